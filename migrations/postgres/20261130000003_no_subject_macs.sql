-- PostgreSQL keeps its indexes by subject (see 20261130000002_deferred_purge) and erases a
-- subject's search-index entries through `subject_index_subject`, so the `subject_macs` list that
-- SQLite needs is neither written nor read here. The copy made by the previous migration would
-- outlive the subjects it names: it goes. The empty table stays so both backends share one schema.
TRUNCATE subject_macs;
