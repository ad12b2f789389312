//! The export file an auditor receives — written page by page for `GET /admin/v1/audit` and
//! `pdgate audit export` alike — and its offline verification (`pdgate audit verify`).
//!
//! Lines are written in one canonical form and the verifier re-serializes every line it reads and
//! requires the same bytes, so no change to a file — not even one that keeps the JSON meaning, such
//! as a hex digit's case — goes unnoticed: the file either still hashes to its chain or is not in
//! canonical form. Each chain (one per writer process) is checked for continuity (sequence numbers
//! without gaps, each `prev_hash` equal to the previous line's `hash`), for each hash, and for the
//! signatures of its checkpoints, against a pinned public key when one is given.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::{checkpoint_message, hex, link, AuditRow};
use pdgate_core::Millis;
use pdgate_store::Backend;

/// Export formats of `GET /admin/v1/audit` and `pdgate audit export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Jsonl,
    Csv,
}

impl Format {
    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "jsonl" => Some(Format::Jsonl),
            "csv" => Some(Format::Csv),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Jsonl => "application/x-ndjson",
            Format::Csv => "text/csv; charset=utf-8",
        }
    }

    /// The first line of the file, if the format has one.
    pub fn header(self) -> &'static str {
        match self {
            Format::Jsonl => "",
            Format::Csv => CSV_HEADER,
        }
    }
}

pub(crate) const CSV_HEADER: &str = "writer,seq,at,kind,prev_hash,hash,entry\n";

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line<'a> {
    writer: &'a str,
    seq: i64,
    at: i64,
    kind: &'a str,
    prev_hash: &'a str,
    hash: &'a str,
    #[serde(borrow)]
    entry: &'a RawValue,
}

/// One row as a line of the export, newline included.
pub fn line(row: &AuditRow, format: Format) -> String {
    let prev = hex(&row.prev_hash);
    let hash = hex(&row.hash);
    match format {
        Format::Jsonl => {
            // The stored entry is JSON written by `Chain::append`; embed its exact bytes.
            let entry = RawValue::from_string(row.entry.clone())
                .unwrap_or_else(|_| RawValue::from_string("null".into()).expect("valid JSON"));
            let mut s = serde_json::to_string(&Line {
                writer: &row.writer,
                seq: row.seq,
                at: row.at,
                kind: &row.kind,
                prev_hash: &prev,
                hash: &hash,
                entry: &entry,
            })
            .expect("an audit line serializes");
            s.push('\n');
            s
        }
        Format::Csv => format!(
            "{},{},{},{},{},{},\"{}\"\n",
            row.writer,
            row.seq,
            row.at,
            row.kind,
            prev,
            hash,
            row.entry.replace('"', "\"\"")
        ),
    }
}

/// Rows per database page of an export.
const PAGE: i64 = 1000;

/// The export as a stream of pages; a database error mid-way ends the stream with an error (the
/// client sees a broken transfer, never a silently short file that would still verify).
pub fn stream(
    store: pdgate_store::Store,
    since: Option<Millis>,
    until: Option<Millis>,
    format: Format,
) -> impl futures_util::Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send {
    let store = std::sync::Arc::new(store);
    futures_util::stream::unfold(
        (
            Some(format.header().to_owned()),
            None::<(String, i64)>,
            false,
        ),
        move |(header, after, done)| {
            let store = store.clone();
            async move {
                if done {
                    return None;
                }
                let after_ref = after.as_ref().map(|(w, s)| (w.as_str(), *s));
                match store.audit_page(since, until, after_ref, PAGE).await {
                    Err(e) => Some((
                        Err(std::io::Error::other(e.to_string())),
                        (None, after, true),
                    )),
                    Ok(page) => {
                        let mut out = header.unwrap_or_default();
                        for r in &page {
                            out.push_str(&line(r, format));
                        }
                        let last = page.last().map(|r| (r.writer.clone(), r.seq));
                        let finished = (page.len() as i64) < PAGE;
                        if out.is_empty() && finished {
                            return None;
                        }
                        Some((
                            Ok(bytes::Bytes::from(out)),
                            (None, last.or(after), finished),
                        ))
                    }
                }
            }
        },
    )
}

/// Why a file does not verify: the line (1-based) and entry it happened at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    pub line: usize,
    pub writer: Option<String>,
    pub seq: Option<i64>,
    pub reason: Break,
}

/// What is wrong at a line of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Break {
    #[error("the file does not end with a newline (truncated?)")]
    Truncated,
    #[error("not a line of a pdgate audit export (malformed or not in canonical form)")]
    Malformed,
    #[error("entry is not valid")]
    InvalidEntry,
    #[error("writer, seq or time differ from the hashed entry")]
    ColumnsDiffer,
    #[error("kind differs from the hashed entry")]
    KindDiffers,
    #[error("the entry does not match its hash (edited)")]
    Edited,
    #[error("the first entry of a chain must follow 32 zero bytes")]
    NoGenesis,
    #[error("expected seq {expected} next: entries were removed, reordered or inserted")]
    Gap { expected: i64 },
    #[error(
        "prev_hash differs from the previous entry's hash (an entry was replaced or inserted)"
    )]
    Relinked,
    #[error("checkpoint does not cover the entry before it")]
    CheckpointMisplaced,
    #[error("checkpoint key is malformed")]
    CheckpointKeyMalformed,
    #[error("checkpoint is signed by another key than the pinned one")]
    CheckpointKeyNotPinned,
    #[error("checkpoint signature is malformed")]
    CheckpointSignatureMalformed,
    #[error("checkpoint signature is invalid")]
    CheckpointSignatureInvalid,
}

impl fmt::Display for Broken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}", self.line)?;
        if let (Some(w), Some(s)) = (&self.writer, self.seq) {
            write!(f, " (writer {w}, seq {s})")?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// What a verified file holds, per chain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verified {
    pub chains: BTreeMap<String, ChainSummary>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainSummary {
    pub first_seq: i64,
    pub last_seq: i64,
    /// Whether the file starts this chain at its genesis (seq 1) rather than mid-way (a window).
    pub from_genesis: bool,
    pub checkpoints: usize,
    /// The highest sequence number covered by a verified checkpoint.
    pub signed_through: Option<i64>,
}

impl fmt::Display for Verified {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (w, c) in &self.chains {
            writeln!(
                f,
                "{w}: entries {}..{} intact{}; {} checkpoint(s) verified{}",
                c.first_seq,
                c.last_seq,
                if c.from_genesis {
                    " from the chain's start"
                } else {
                    " (a window: the chain starts before this file)"
                },
                c.checkpoints,
                match c.signed_through {
                    Some(s) if s < c.last_seq =>
                        format!(", signed through seq {s} (later entries are not yet covered)"),
                    Some(s) => format!(", signed through seq {s}"),
                    None => String::new(),
                }
            )?;
        }
        Ok(())
    }
}

struct Head {
    seq: i64,
    hash: Vec<u8>,
    first_seq: i64,
    from_genesis: bool,
    checkpoints: usize,
    signed_through: Option<i64>,
}

/// Verifies an export (JSONL or CSV, told apart by the CSV header). `public_key` pins the
/// checkpoint key (32 bytes, Ed25519); without it each checkpoint is checked against the key it
/// names, which proves integrity but not authorship — pin the key for that.
pub fn verify(text: &str, public_key: Option<&[u8]>) -> Result<Verified, Broken> {
    let mut heads: BTreeMap<String, Head> = BTreeMap::new();
    let csv = text.starts_with(CSV_HEADER);
    let body = if csv { &text[CSV_HEADER.len()..] } else { text };
    let offset = usize::from(csv);
    if !body.is_empty() && !body.ends_with('\n') {
        return Err(Broken {
            line: offset + body.split('\n').count(),
            writer: None,
            seq: None,
            reason: Break::Truncated,
        });
    }
    for (i, raw) in body.split_terminator('\n').enumerate() {
        let broken = |(writer, seq, reason): (Option<String>, Option<i64>, Break)| Broken {
            line: i + 1 + offset,
            writer,
            seq,
            reason,
        };
        let row = parse_line(raw, csv).ok_or_else(|| broken((None, None, Break::Malformed)))?;
        let at = |reason: Break| broken((Some(row.writer.clone()), Some(row.seq), reason));
        let event = hashed_event(&row).map_err(at)?;
        follow(&mut heads, &row).map_err(at)?;
        if row.kind == "checkpoint" {
            check_checkpoint(&event, &row, public_key).map_err(at)?;
            let h = heads.get_mut(&row.writer).expect("followed above");
            h.checkpoints += 1;
            h.signed_through = Some(row.seq - 1);
        }
    }
    Ok(Verified {
        chains: heads
            .into_iter()
            .map(|(w, h)| {
                (
                    w,
                    ChainSummary {
                        first_seq: h.first_seq,
                        last_seq: h.seq,
                        from_genesis: h.from_genesis,
                        checkpoints: h.checkpoints,
                        signed_through: h.signed_through,
                    },
                )
            })
            .collect(),
    })
}

/// The line's event, once its columns are shown to be what was hashed and its hash to match.
fn hashed_event(row: &AuditRow) -> Result<serde_json::Value, Break> {
    let entry: EntryView = serde_json::from_str(&row.entry).map_err(|_| Break::InvalidEntry)?;
    if entry.writer != row.writer || entry.seq != row.seq || entry.at != row.at {
        return Err(Break::ColumnsDiffer);
    }
    if entry.event.get("type").and_then(|t| t.as_str()) != Some(row.kind.as_str()) {
        return Err(Break::KindDiffers);
    }
    if link(&row.prev_hash, &row.entry).as_slice() != row.hash.as_slice() {
        return Err(Break::Edited);
    }
    Ok(entry.event)
}

/// Links `row` to its writer's chain: the next seq after the previous entry's, on its hash (or
/// on 32 zero bytes for a chain's first entry).
fn follow(heads: &mut BTreeMap<String, Head>, row: &AuditRow) -> Result<(), Break> {
    let Some(h) = heads.get_mut(&row.writer) else {
        if row.seq == 1 && row.prev_hash != [0u8; 32] {
            return Err(Break::NoGenesis);
        }
        let head = Head {
            seq: row.seq,
            hash: row.hash.clone(),
            first_seq: row.seq,
            from_genesis: row.seq == 1,
            checkpoints: 0,
            signed_through: None,
        };
        heads.insert(row.writer.clone(), head);
        return Ok(());
    };
    if row.seq != h.seq + 1 {
        return Err(Break::Gap {
            expected: h.seq + 1,
        });
    }
    if row.prev_hash != h.hash {
        return Err(Break::Relinked);
    }
    h.seq = row.seq;
    h.hash.clone_from(&row.hash);
    Ok(())
}

#[derive(Deserialize)]
struct EntryView {
    writer: String,
    seq: i64,
    at: i64,
    event: serde_json::Value,
}

/// A checkpoint signs the hash of the entry just before it.
fn check_checkpoint(
    event: &serde_json::Value,
    row: &AuditRow,
    pinned: Option<&[u8]>,
) -> Result<(), Break> {
    let field = |k: &str| event.get(k).and_then(|v| v.as_str()).unwrap_or_default();
    let seq = event.get("seq").and_then(serde_json::Value::as_i64);
    if seq != Some(row.seq - 1) || field("head") != hex(&row.prev_hash) {
        return Err(Break::CheckpointMisplaced);
    }
    let key = data_encoding::HEXLOWER
        .decode(field("public_key").as_bytes())
        .map_err(|_| Break::CheckpointKeyMalformed)?;
    if pinned.is_some_and(|p| p != key.as_slice()) {
        return Err(Break::CheckpointKeyNotPinned);
    }
    let sig = data_encoding::HEXLOWER
        .decode(field("signature").as_bytes())
        .map_err(|_| Break::CheckpointSignatureMalformed)?;
    let msg = checkpoint_message(&row.writer, row.seq - 1, &row.prev_hash);
    aws_lc_rs::signature::UnparsedPublicKey::new(&aws_lc_rs::signature::ED25519, &key)
        .verify(&msg, &sig)
        .map_err(|_| Break::CheckpointSignatureInvalid)
}

/// Parses a line and checks it is exactly what [`line`] writes for what it holds.
pub(crate) fn parse_line(raw: &str, csv: bool) -> Option<AuditRow> {
    let row = if csv {
        let mut it = raw.splitn(7, ',');
        let writer = it.next()?.to_owned();
        let seq = it.next()?.parse().ok()?;
        let at = it.next()?.parse().ok()?;
        let kind = it.next()?.to_owned();
        let prev_hash = data_encoding::HEXLOWER.decode(it.next()?.as_bytes()).ok()?;
        let hash = data_encoding::HEXLOWER.decode(it.next()?.as_bytes()).ok()?;
        let quoted = it.next()?;
        let inner = quoted.strip_prefix('"')?.strip_suffix('"')?;
        AuditRow {
            writer,
            seq,
            at,
            kind,
            entry: inner.replace("\"\"", "\""),
            prev_hash,
            hash,
        }
    } else {
        let l: Line<'_> = serde_json::from_str(raw).ok()?;
        AuditRow {
            writer: l.writer.to_owned(),
            seq: l.seq,
            at: l.at,
            kind: l.kind.to_owned(),
            entry: l.entry.get().to_owned(),
            prev_hash: data_encoding::HEXLOWER
                .decode(l.prev_hash.as_bytes())
                .ok()?,
            hash: data_encoding::HEXLOWER.decode(l.hash.as_bytes()).ok()?,
        }
    };
    let format = if csv { Format::Csv } else { Format::Jsonl };
    let again = line(&row, format);
    (again.strip_suffix('\n') == Some(raw)).then_some(row)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{AuditEvent, Chain};
    use pdgate_core::crypto::{Kek, Keys, RootSecret};
    use proptest::prelude::*;

    fn export(format: Format, n: u32) -> (String, [u8; 32]) {
        let keys = Keys::derive(Kek::generate(1), &RootSecret::generate());
        let mut c = Chain::new("w-1");
        let mut out = format.header().to_owned();
        for i in 0..n {
            let ev = AuditEvent::Detokenize {
                service: "crm".into(),
                purpose: "marketing".into(),
                requested: i,
                granted: i,
                denied: BTreeMap::from([("restricted".to_owned(), 1)]),
            };
            out.push_str(&line(&c.append(1000 + i64::from(i), &ev), format));
            if i % 3 == 2 {
                let cp = c.checkpoint(&keys.audit);
                out.push_str(&line(&c.append(2000, &cp), format));
            }
        }
        (out, keys.audit.public_key())
    }

    #[test]
    fn intact_exports_verify_in_both_formats() {
        for f in [Format::Jsonl, Format::Csv] {
            let (text, pk) = export(f, 6);
            let v = verify(&text, Some(&pk)).unwrap();
            let c = &v.chains["w-1"];
            assert_eq!((c.first_seq, c.last_seq, c.checkpoints), (1, 8, 2));
            assert!(c.from_genesis);
            let other = [7u8; 32];
            assert_eq!(
                verify(&text, Some(&other)).unwrap_err().reason,
                Break::CheckpointKeyNotPinned
            );
        }
    }

    #[test]
    fn edits_removals_reorders_and_insertions_are_named() {
        let (text, pk) = export(Format::Jsonl, 6);
        let lines: Vec<&str> = text.lines().collect();
        let join = |ls: &[&str]| ls.iter().map(|l| format!("{l}\n")).collect::<String>();

        let edited = text.replacen("\"requested\":2", "\"requested\":9", 1);
        let e = verify(&edited, Some(&pk)).unwrap_err();
        assert_eq!((e.line, e.seq), (3, Some(3)), "{e}");
        assert_eq!(e.reason, Break::Edited);

        let mut removed = lines.clone();
        removed.remove(1);
        let e = verify(&join(&removed), Some(&pk)).unwrap_err();
        assert_eq!((e.line, e.seq), (2, Some(3)), "{e}");

        let mut reordered = lines.clone();
        reordered.swap(1, 2);
        let e = verify(&join(&reordered), Some(&pk)).unwrap_err();
        assert_eq!(e.line, 2, "{e}");

        let mut inserted = lines.clone();
        inserted.insert(2, lines[1]);
        let e = verify(&join(&inserted), Some(&pk)).unwrap_err();
        assert_eq!(e.line, 3, "{e}");

        // A window of a chain verifies on its own, flagged as not starting at genesis.
        let window = join(&lines[2..]);
        let v = verify(&window, Some(&pk)).unwrap();
        assert!(!v.chains["w-1"].from_genesis);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]
        #[test]
        fn any_single_byte_change_fails(pos in any::<prop::sample::Index>(), byte in any::<u8>(), csv in any::<bool>()) {
            let f = if csv { Format::Csv } else { Format::Jsonl };
            let (text, pk) = export(f, 4);
            let mut bytes = text.into_bytes();
            let i = pos.index(bytes.len());
            prop_assume!(bytes[i] != byte);
            bytes[i] = byte;
            // Bytes that are not text at all are refused by the CLI before verifying.
            if let Ok(changed) = String::from_utf8(bytes) {
                prop_assert!(verify(&changed, Some(&pk)).is_err());
            }
        }
    }
}
