//! Deciding a whole group-commit batch from what the database already holds, so that the batch can
//! be written with a handful of multi-row statements instead of a dozen round trips per intake.
//!
//! The writer is the only one of its process, so the facts read at the start of the batch stay true
//! for the batch, except against other replicas sharing PostgreSQL: the multi-row writes detect that
//! (fewer rows inserted than decided here) and the batch is redone intake by intake.

use std::collections::{HashMap, HashSet};

use super::{Committed, IntakeOutcome, IntakeWrite, SubjectWrite, Token};

/// What the database holds for the keys, subjects and values a batch mentions.
#[derive(Debug, Default)]
pub(crate) struct Known {
    pub subject_keys: HashSet<Vec<u8>>,
    pub subject_ids: HashSet<Vec<u8>>,
    /// The stored tokens among the batch's candidates, with the value MAC each stands for.
    pub token_macs: HashMap<String, Vec<u8>>,
}

/// A token first issued in this batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NewToken {
    pub token: Token,
    pub item: usize,
    pub value: usize,
}

#[derive(Debug, Default)]
pub(crate) struct Decided {
    pub outcomes: Vec<IntakeOutcome>,
    pub new_tokens: Vec<NewToken>,
}

/// The facts a batch needs looked up.
#[derive(Debug, Default)]
pub(crate) struct Lookups<'a> {
    pub keys: Vec<&'a [u8]>,
    pub ids: Vec<&'a [u8]>,
    pub candidates: Vec<&'a str>,
}

/// The queries a batch needs answered: subject keys, subject ids, candidate tokens. A value's
/// token, if it has one, is among its candidates (they derive from its MAC), so the rows found for
/// the candidates tell both which value already has a token and which candidates are taken.
pub(crate) fn lookups(batch: &[IntakeWrite]) -> Lookups<'_> {
    let mut keys = Vec::new();
    let mut ids = Vec::new();
    let mut candidates = Vec::new();
    for w in batch {
        match &w.subject {
            Some(SubjectWrite::New { key: Some(k), .. }) => keys.push(&k[..]),
            Some(SubjectWrite::Existing { id }) => ids.push(id.as_bytes()),
            _ => {}
        }
        for v in &w.values {
            candidates.extend(v.candidates.iter().map(Token::as_str));
        }
    }
    Lookups {
        keys,
        ids,
        candidates,
    }
}

/// Decides every intake of the batch in order, as the per-intake path would.
pub(crate) fn decide(batch: &[IntakeWrite], known: &Known) -> Decided {
    let mut keys_seen: HashSet<&[u8]> = HashSet::new();
    let mut by_mac: HashMap<&[u8], &Token> = HashMap::new();
    let mut taken: HashSet<&str> = HashSet::new();
    let mut d = Decided {
        outcomes: Vec::with_capacity(batch.len()),
        new_tokens: Vec::new(),
    };
    for (i, w) in batch.iter().enumerate() {
        let race = match &w.subject {
            Some(SubjectWrite::New { key: Some(k), .. }) => {
                known.subject_keys.contains(&k[..]) || keys_seen.contains(&k[..])
            }
            Some(SubjectWrite::Existing { id }) => !known.subject_ids.contains(id.as_bytes()),
            _ => false,
        };
        if race {
            d.outcomes.push(IntakeOutcome::SubjectRace);
            continue;
        }
        let mut tokens = Vec::with_capacity(w.values.len());
        let mut issued: Vec<(usize, &Token, &[u8])> = Vec::new();
        let mut exhausted = false;
        for (vi, v) in w.values.iter().enumerate() {
            if v.candidates.is_empty() {
                // A collection without a token (`encrypt`, `hash`, `pass`).
                tokens.push(Token::from(String::new()));
                continue;
            }
            let mac = &v.value_mac[..];
            let stored = v.candidates.iter().find(|c| {
                known
                    .token_macs
                    .get(c.as_str())
                    .is_some_and(|m| m[..] == *mac)
            });
            if let Some(t) = stored.or_else(|| by_mac.get(mac).copied()) {
                tokens.push(t.clone());
                continue;
            }
            if let Some((_, t, _)) = issued.iter().find(|(_, _, m)| *m == mac) {
                tokens.push((*t).clone());
                continue;
            }
            let free = v.candidates.iter().find(|c| {
                !known.token_macs.contains_key(c.as_str())
                    && !taken.contains(c.as_str())
                    && !issued.iter().any(|(_, t, _)| t == c)
            });
            match free {
                Some(c) => {
                    issued.push((vi, c, mac));
                    tokens.push(c.clone());
                }
                None => {
                    exhausted = true;
                    break;
                }
            }
        }
        if exhausted {
            d.outcomes.push(IntakeOutcome::TokenSpaceExhausted);
            continue;
        }
        if let Some(SubjectWrite::New { key: Some(k), .. }) = &w.subject {
            keys_seen.insert(&k[..]);
        }
        for (vi, t, mac) in issued {
            taken.insert(t.as_str());
            by_mac.insert(mac, t);
            d.new_tokens.push(NewToken {
                token: t.clone(),
                item: i,
                value: vi,
            });
        }
        d.outcomes
            .push(IntakeOutcome::Committed(Committed { tokens }));
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ValueWrite;

    fn v(mac: u8, cands: &[&str]) -> ValueWrite {
        ValueWrite {
            value_mac: [mac; 32].into(),
            candidates: cands.iter().map(|c| Token::from(*c)).collect(),
            shape: "generic".into(),
            kind: "text".into(),
            action: "tokenize".into(),
            category: None,
            field: "f".into(),
            purposes: "p".into(),
            ciphertext: vec![],
        }
    }

    fn new(key: u8, values: Vec<ValueWrite>) -> IntakeWrite {
        IntakeWrite {
            subject: Some(SubjectWrite::New {
                id: vec![key; 16].into(),
                key: Some([key; 32].into()),
                wrapped_dek: vec![],
                kek_version: 1,
            }),
            values,
            ..IntakeWrite::default()
        }
    }

    #[test]
    fn decides_like_the_per_intake_path() {
        let known = Known {
            subject_keys: [vec![5u8; 32]].into(),
            subject_ids: [vec![7u8; 16]].into(),
            token_macs: [
                ("tok_old".to_owned(), vec![1u8; 32]),
                ("tok_taken".to_owned(), vec![9u8; 32]),
            ]
            .into(),
        };
        let batch = vec![
            // Value 1 already has its second candidate; value 2's first is another value's.
            new(
                1,
                vec![
                    v(1, &["tok_taken", "tok_old"]),
                    v(2, &["tok_taken", "tok_b"]),
                ],
            ),
            new(1, vec![]), // same key as item 0: race
            new(5, vec![]), // key already stored: race
            IntakeWrite {
                subject: Some(SubjectWrite::Existing {
                    id: vec![7; 16].into(),
                }),
                values: vec![v(2, &["tok_z"])],
                ..IntakeWrite::default()
            },
            IntakeWrite {
                subject: Some(SubjectWrite::Existing {
                    id: vec![8; 16].into(),
                }),
                ..IntakeWrite::default()
            }, // erased: race
            new(9, vec![v(3, &["tok_b", "tok_taken"])]), // every candidate taken
            new(10, vec![v(4, &["tok_b", "tok_c"]), v(4, &["tok_q"])]), // same value twice: one token
        ];
        let d = decide(&batch, &known);
        let c = |t: &[&str]| {
            IntakeOutcome::Committed(Committed {
                tokens: t.iter().map(|s| Token::from(*s)).collect(),
            })
        };
        assert_eq!(
            d.outcomes,
            vec![
                c(&["tok_old", "tok_b"]),
                IntakeOutcome::SubjectRace,
                IntakeOutcome::SubjectRace,
                c(&["tok_b"]),
                IntakeOutcome::SubjectRace,
                IntakeOutcome::TokenSpaceExhausted,
                c(&["tok_c", "tok_c"]),
            ]
        );
        assert_eq!(
            d.new_tokens,
            vec![
                NewToken {
                    token: "tok_b".into(),
                    item: 0,
                    value: 1
                },
                NewToken {
                    token: "tok_c".into(),
                    item: 6,
                    value: 0
                }
            ]
        );
    }
}
