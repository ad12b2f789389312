//! The schema migrations, compiled into the binary: each backend's files under `migrations/`,
//! named here and read with `include_str!`. sqlx's `migrate!` macro would find them itself, but it
//! needs sqlx's `macros` feature, which builds a second copy of sqlx's drivers, rustls and tokio
//! for the proc macro — most of what the store costs to compile. A test keeps the lists equal to
//! the directories, so a migration file cannot be left out.

use std::borrow::Cow;

use sqlx::migrate::{Migration, MigrationType, Migrator};

/// `(file name, SQL)` of one backend's migrations, in version order.
type Files = &'static [(&'static str, &'static str)];

macro_rules! embedded {
    ($dir:literal: $($file:literal,)*) => {
        &[$(($file, include_str!(concat!("../../../migrations/", $dir, "/", $file))),)*]
    };
}

pub(crate) const SQLITE: Files = embedded!("sqlite":
        "20261123000001_vault.sql",
        "20261124000001_ledger.sql",
        "20261125000001_requests.sql",
        "20261126000001_oversight.sql",
        "20261130000001_token_paths.sql",
        "20261130000002_deferred_purge.sql",
        "20261130000004_acts_by_sweep.sql",
        "20261201000001_subject_revision.sql",
        "20261201000002_sweep_status.sql",
        "20261206000001_subject_links.sql",
        "20261206000002_writer_probe.sql",
        "20261206000003_keyring_root_id.sql",
    "20261207000001_request_purposes.sql",
    "20261207000002_category_keys.sql",
    "20261207000003_extension_notice.sql",
    "20261207000004_authority_receipt.sql",
    "20261207000005_consent_details.sql",
    "20261207000006_index_pending.sql",
    "20261208000001_kek_versions.sql",
    "20261208000002_chain_heads.sql",
);

pub(crate) const POSTGRES: Files = embedded!("postgres":
        "20261123000001_vault.sql",
        "20261124000001_ledger.sql",
        "20261125000001_requests.sql",
        "20261126000001_oversight.sql",
        "20261130000001_token_paths.sql",
        "20261130000002_deferred_purge.sql",
        "20261130000003_no_subject_macs.sql",
        "20261130000004_acts_by_sweep.sql",
        "20261201000001_subject_revision.sql",
        "20261201000002_sweep_status.sql",
        "20261206000001_subject_links.sql",
        "20261206000002_writer_probe.sql",
        "20261206000003_keyring_root_id.sql",
    "20261207000001_request_purposes.sql",
    "20261207000002_category_keys.sql",
    "20261207000003_extension_notice.sql",
    "20261207000004_authority_receipt.sql",
    "20261207000005_consent_details.sql",
    "20261208000001_kek_versions.sql",
    "20261208000002_chain_heads.sql",
);

/// The migrator for one backend's files, as `migrate!` would build it: the version and the
/// description from the file name (`<version>_<words>.sql`), the checksum from the SQL.
pub(crate) fn migrator(files: Files) -> Migrator {
    let migrations = files
        .iter()
        .map(|&(name, sql)| {
            let (version, rest) = name.split_once('_').unwrap_or((name, ""));
            let description = rest.trim_end_matches(".sql").replace('_', " ");
            Migration::new(
                version.parse().unwrap_or(0),
                Cow::Owned(description),
                MigrationType::Simple,
                Cow::Borrowed(sql),
                sql.starts_with("-- no-transaction"),
            )
        })
        .collect::<Vec<_>>();
    Migrator {
        migrations: Cow::Owned(migrations),
        ..Migrator::DEFAULT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file of `migrations/<dir>` is listed, in order, and every name parses.
    fn listed(dir: &str, files: Files) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../migrations")
            .join(dir);
        let mut on_disk: Vec<String> = std::fs::read_dir(&path)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        on_disk.sort();
        let names: Vec<&str> = files.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, on_disk, "migrations/{dir} and migrations.rs differ");
        let versions: Vec<i64> = migrator(files).iter().map(|m| m.version).collect();
        assert!(versions.windows(2).all(|w| w[0] < w[1]), "{versions:?}");
        assert!(versions[0] > 20_260_000_000_000, "{versions:?}");
    }

    #[test]
    fn every_migration_file_is_embedded() {
        listed("sqlite", SQLITE);
        listed("postgres", POSTGRES);
    }

    #[test]
    fn a_migration_reads_as_migrate_would() {
        let m = migrator(SQLITE);
        let first = m.iter().next().unwrap();
        assert_eq!(
            (first.version, first.description.as_ref()),
            (20_261_123_000_001, "vault")
        );
        assert_eq!(first.checksum.len(), 48, "SHA-384 of the SQL");
    }
}
