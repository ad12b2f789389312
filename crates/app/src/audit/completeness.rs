//! Whether an export still holds every chain and every entry something outside it vouches for
//! (issue 28). A verified export proves each chain it holds is intact, not that no chain was
//! dropped and no tail cut: someone with write access to the database can do both and the rest
//! still verifies. Two records say what must be there:
//! - each chain's first entry commits to the latest signed checkpoints of the chains its process
//!   could see (`chain_started.seen`), so a dropped or cut chain no longer matches a successor;
//! - the signed checkpoints written outside the database (`[audit] checkpoint_file`), which a
//!   database writer cannot reach, vouch for every chain up to its last checkpoint.
//!
//! What neither catches: entries after a chain's last checkpoint that no later chain saw (up to
//! `checkpoint_entries` entries or `checkpoint_interval_s` of them), and, without the file, the
//! newest chains as a whole. The README's threat model says so.

use std::collections::{BTreeMap, HashMap};

use super::export::{parse_line, Verified, CSV_HEADER};
use super::{checkpoint_message, SeenHead, SignedHead};
use pdgate_core::Millis;

/// Who vouches for an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Voucher {
    /// The first entry of another chain, which saw it when its process started.
    ChainStart { writer: String },
    /// A line of a checkpoint file (1-based).
    CheckpointFile { file: usize, line: usize },
}

impl std::fmt::Display for Voucher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Voucher::ChainStart { writer } => write!(f, "the start of chain {writer}"),
            Voucher::CheckpointFile { file, line } => {
                write!(f, "checkpoint file {file}, line {line}")
            }
        }
    }
}

/// What is missing from an export, or wrong with a checkpoint file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Missing {
    #[error("chain {writer} is not in the export, yet {by} vouches for its entry {seq}: the chain was dropped (if the export is a time window, pass its start as --since)")]
    ChainDropped {
        writer: String,
        seq: i64,
        by: Voucher,
    },
    #[error("chain {writer} ends at entry {last} in the export, yet {by} vouches for entry {seq}: its tail was cut")]
    TailCut {
        writer: String,
        last: i64,
        seq: i64,
        by: Voucher,
    },
    #[error(
        "entry {seq} of chain {writer} is not the one {by} vouches for: the chain was rewritten"
    )]
    Rewritten {
        writer: String,
        seq: i64,
        by: Voucher,
    },
    #[error("chain {writer} starts after entry {seq} in the export, which {by} vouches for: entries were removed from its start (if the export is a time window, pass its start as --since)")]
    BeforeWindow {
        writer: String,
        seq: i64,
        by: Voucher,
    },
    #[error("{by}: not a checkpoint line")]
    Malformed { by: Voucher },
    #[error("{by}: the signature is invalid")]
    BadSignature { by: Voucher },
    #[error("{by}: signed by another key than the deployment's")]
    OtherKey { by: Voucher },
}

/// How much was vouched for and found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Complete {
    /// Entries vouched for by chain starts, and by checkpoint files.
    pub by_chain_starts: usize,
    pub by_checkpoint_files: usize,
}

struct Claim {
    writer: String,
    seq: i64,
    hash: Vec<u8>,
    at: Millis,
    by: Voucher,
}

/// Checks that the export `text` (already [`verify`](super::export::verify)'d into `verified`)
/// holds every entry its chain starts and the checkpoint `files` vouch for. Checkpoint lines are
/// checked against `pinned`, else against the key of the export's own checkpoints. `since` is the
/// start of the export's time window: what was vouched for before it is not looked for. Without
/// it the export is taken as the whole log — an export that merely starts later cannot be told
/// from one whose oldest chains were dropped.
pub fn check(
    text: &str,
    verified: &Verified,
    files: &[&str],
    pinned: Option<&[u8]>,
    since: Option<Millis>,
) -> Result<Complete, Missing> {
    // Two passes over the text, each row parsed as it comes: an export can be millions of lines.
    let since = since.unwrap_or(Millis::MIN);
    let mut key = pinned.map(<[u8]>::to_vec);
    let mut claims = Vec::new();
    for r in rows(text) {
        match r.kind.as_str() {
            "chain_started" => claims.extend(seen_by(&r.writer, &r.entry)),
            "checkpoint" if key.is_none() => key = checkpoint_key(&r.entry),
            _ => {}
        }
    }
    let by_chain_starts = claims.len();
    for (i, file) in files.iter().enumerate() {
        for (j, line) in file
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let by = Voucher::CheckpointFile {
                file: i + 1,
                line: j + 1,
            };
            claims.push(signed_claim(line, by, key.as_deref())?);
        }
    }
    let by_checkpoint_files = claims.len() - by_chain_starts;
    claims.retain(|c| c.at >= since);
    let mut wanted: HashMap<(String, i64), Vec<&Claim>> = HashMap::new();
    for c in &claims {
        wanted.entry((c.writer.clone(), c.seq)).or_default().push(c);
    }
    for r in rows(text) {
        for c in wanted.remove(&(r.writer, r.seq)).unwrap_or_default() {
            if c.hash != r.hash {
                return Err(Missing::Rewritten {
                    writer: c.writer.clone(),
                    seq: c.seq,
                    by: c.by.clone(),
                });
            }
        }
    }
    let mut unfound: Vec<&Claim> = wanted.into_values().flatten().collect();
    unfound.sort_by(|a, b| (&a.writer, a.seq).cmp(&(&b.writer, b.seq)));
    match unfound.first() {
        Some(c) => Err(missing(c, &verified.chains)),
        None => Ok(Complete {
            by_chain_starts,
            by_checkpoint_files,
        }),
    }
}

fn missing(c: &Claim, chains: &BTreeMap<String, super::export::ChainSummary>) -> Missing {
    let (writer, seq, by) = (c.writer.clone(), c.seq, c.by.clone());
    match chains.get(&c.writer) {
        None => Missing::ChainDropped { writer, seq, by },
        Some(s) if s.last_seq < c.seq => Missing::TailCut {
            writer,
            last: s.last_seq,
            seq,
            by,
        },
        Some(_) => Missing::BeforeWindow { writer, seq, by },
    }
}

fn rows(text: &str) -> impl Iterator<Item = super::AuditRow> + '_ {
    let csv = text.starts_with(CSV_HEADER);
    let body = if csv { &text[CSV_HEADER.len()..] } else { text };
    body.split_terminator('\n')
        .filter_map(move |l| parse_line(l, csv))
}

/// The key a checkpoint `entry` is signed with.
fn checkpoint_key(entry: &str) -> Option<Vec<u8>> {
    let entry: serde_json::Value = serde_json::from_str(entry).ok()?;
    let key = entry["event"]["public_key"].as_str()?;
    data_encoding::HEXLOWER.decode(key.as_bytes()).ok()
}

/// What the chain start `entry` of `writer` saw.
fn seen_by(writer: &str, entry: &str) -> Vec<Claim> {
    let seen: Vec<SeenHead> = serde_json::from_str::<serde_json::Value>(entry)
        .ok()
        .and_then(|e| serde_json::from_value(e["event"]["seen"].clone()).ok())
        .unwrap_or_default();
    seen.into_iter()
        .filter_map(|s| {
            Some(Claim {
                hash: data_encoding::HEXLOWER.decode(s.hash.as_bytes()).ok()?,
                writer: s.writer,
                seq: s.seq,
                at: s.at,
                by: Voucher::ChainStart {
                    writer: writer.to_owned(),
                },
            })
        })
        .collect()
}

/// A checkpoint file's line, its signature checked: it vouches for entry `seq` (`head`).
fn signed_claim(line: &str, by: Voucher, key: Option<&[u8]>) -> Result<Claim, Missing> {
    let malformed = || Missing::Malformed { by: by.clone() };
    let head: SignedHead = serde_json::from_str(line).map_err(|_| malformed())?;
    let hex = |s: &str| data_encoding::HEXLOWER.decode(s.as_bytes()).ok();
    let (Some(hash), Some(public), Some(sig)) =
        (hex(&head.head), hex(&head.public_key), hex(&head.signature))
    else {
        return Err(malformed());
    };
    if key.is_some_and(|k| k != public.as_slice()) {
        return Err(Missing::OtherKey { by });
    }
    let msg = checkpoint_message(&head.writer, head.seq, &hash);
    aws_lc_rs::signature::UnparsedPublicKey::new(&aws_lc_rs::signature::ED25519, &public)
        .verify(&msg, &sig)
        .map_err(|_| Missing::BadSignature { by: by.clone() })?;
    Ok(Claim {
        writer: head.writer,
        seq: head.seq,
        hash,
        at: head.at,
        by,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::export::{line, verify, Format};
    use crate::audit::{AuditEvent, AuditRow, Chain};
    use pdgate_core::crypto::{Kek, Keys, RootSecret};

    fn event(i: u32) -> AuditEvent {
        AuditEvent::Detokenize {
            service: "crm".into(),
            purpose: "marketing".into(),
            requested: i,
            granted: i,
            denied: BTreeMap::new(),
        }
    }

    /// `n` entries on `chain`, a checkpoint after every third; the checkpoints' lines are added
    /// to `file` as the publisher writes them.
    fn entries(chain: &mut Chain, keys: &Keys, n: u32, file: &mut String) -> Vec<AuditRow> {
        let mut rows = Vec::new();
        for i in 0..n {
            rows.push(chain.append(1_000 + i64::from(i), &event(i)));
            if i % 3 == 2 {
                let cp = chain.checkpoint(&keys.audit);
                let row = chain.append(1_000 + i64::from(i), &cp);
                let head = SignedHead::of(&row.writer, row.at, &cp).unwrap();
                file.push_str(&(serde_json::to_string(&head).unwrap() + "\n"));
                rows.push(row);
            }
        }
        rows
    }

    /// Chain `w-a`, then chain `w-b` whose start saw `w-a`'s last checkpoint; the file holds
    /// both chains' checkpoints.
    fn fixture() -> (Vec<AuditRow>, Vec<AuditRow>, String, Keys) {
        let keys = Keys::derive(Kek::generate(1), &RootSecret::generate());
        let mut file = String::new();
        let mut a = Chain::new("w-a");
        let rows_a = entries(&mut a, &keys, 6, &mut file);
        let last = rows_a
            .iter()
            .rev()
            .find(|r| r.kind == "checkpoint")
            .unwrap();
        let mut b = Chain::new("w-b");
        let start = AuditEvent::ChainStarted {
            version: "t".into(),
            policy_sha256: "0".repeat(64),
            seen: vec![SeenHead {
                writer: "w-a".into(),
                seq: last.seq,
                hash: data_encoding::HEXLOWER.encode(&last.hash),
                at: last.at,
            }],
        };
        let mut rows_b = vec![b.append(2_000, &start)];
        rows_b.extend(entries(&mut b, &keys, 6, &mut file));
        (rows_a, rows_b, file, keys)
    }

    fn text(parts: &[&[AuditRow]]) -> String {
        parts
            .iter()
            .flat_map(|p| p.iter())
            .map(|r| line(r, Format::Jsonl))
            .collect()
    }

    fn checked(t: &str, files: &[&str], keys: &Keys) -> Result<Complete, Missing> {
        let pk = keys.audit.public_key();
        let v = verify(t, Some(&pk)).expect("each chain left is intact");
        check(t, &v, files, Some(&pk), None)
    }

    #[test]
    fn a_whole_export_holds_everything_vouched_for() {
        let (a, b, file, keys) = fixture();
        let whole = text(&[&a, &b]);
        let c = checked(&whole, &[&file], &keys).unwrap();
        assert_eq!((c.by_chain_starts, c.by_checkpoint_files), (1, 4));
        assert_eq!(checked(&whole, &[], &keys).unwrap().by_chain_starts, 1);
    }

    #[test]
    fn a_dropped_chain_is_found_by_its_successor_and_by_the_file() {
        let (_, b, file, keys) = fixture();
        let dropped = text(&[&b]);
        for files in [&[][..], &[file.as_str()][..]] {
            let e = checked(&dropped, files, &keys).unwrap_err();
            assert!(
                matches!(&e, Missing::ChainDropped { writer, .. } if writer == "w-a"),
                "{e}"
            );
        }
        // An export of a window starting after `w-a` is not expected to hold it.
        let pk = keys.audit.public_key();
        let v = verify(&dropped, Some(&pk)).unwrap();
        let window = check(&dropped, &v, &[&file], Some(&pk), Some(2_000)).unwrap();
        assert_eq!(window.by_chain_starts, 1);
    }

    #[test]
    fn the_newest_chain_dropped_or_cut_is_found_only_by_the_file() {
        let (a, b, file, keys) = fixture();
        let newest_dropped = text(&[&a]);
        assert!(
            checked(&newest_dropped, &[], &keys).is_ok(),
            "nothing else saw it"
        );
        let e = checked(&newest_dropped, &[&file], &keys).unwrap_err();
        assert!(
            matches!(&e, Missing::ChainDropped { writer, .. } if writer == "w-b"),
            "{e}"
        );
        let cut = text(&[&a, &b[..b.len() - 3]]);
        let e = checked(&cut, &[&file], &keys).unwrap_err();
        assert!(
            matches!(&e, Missing::TailCut { writer, last, .. } if writer == "w-b" && *last == 6),
            "{e}"
        );
    }

    #[test]
    fn a_checkpoint_line_from_another_key_or_edited_is_refused() {
        let (a, b, file, keys) = fixture();
        let whole = text(&[&a, &b]);
        let other = Keys::derive(Kek::generate(1), &RootSecret::generate());
        let mut c = Chain::new("w-a");
        let mut forged = String::new();
        entries(&mut c, &other, 3, &mut forged);
        let e = checked(&whole, &[&forged], &keys).unwrap_err();
        assert!(matches!(e, Missing::OtherKey { .. }), "{e}");
        let first: SignedHead = serde_json::from_str(file.lines().next().unwrap()).unwrap();
        let moved = SignedHead {
            seq: first.seq - 1,
            ..first
        };
        let edited = serde_json::to_string(&moved).unwrap();
        let e = checked(&whole, &[&edited], &keys).unwrap_err();
        assert!(matches!(e, Missing::BadSignature { .. }), "{e}");
        let e = checked(&whole, &["{\"writer\":1}"], &keys).unwrap_err();
        assert!(matches!(e, Missing::Malformed { .. }), "{e}");
    }
}
