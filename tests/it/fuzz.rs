//! Property-based fuzzing of everything that parses hostile input before any decision: the path
//! canonicaliser, the three body codecs, the request-smuggling guard, the policy loader and the
//! token parsers. The property is the one no input may break: no panic, and what is accepted is
//! well formed (and, for the framing guard, the verdict does not depend on how bytes arrive).
//!
//! CI runs a smoke (`cargo test --test it fuzz::`, 256 cases a target). A long run, as in the README's
//! security section, gives every target a time budget instead of a case count:
//! `PDGATE_FUZZ_SECONDS=600 cargo test --release --test it fuzz:: -- --test-threads 1 --nocapture`
//! (each target prints how many cases it ran). The seed corpus in `tests/fuzz-corpus/<target>/`
//! (known hostile inputs, one a file) is replayed first on every run; failing generated inputs are
//! kept by proptest in `tests/fuzz.proptest-regressions` and replayed next.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use bytes::Bytes;
use pdgate::forms::{json, multipart, urlencoded, CodecLimits};
use pdgate_http::framing::verdict;
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, TestCaseError, TestRunner};

fn limits() -> CodecLimits {
    CodecLimits {
        max_fields: 64,
        max_json_depth: 16,
        max_parts: 16,
        max_body_bytes: 1 << 16,
    }
}

/// Bytes that are mostly the syntax a parser looks for, with anything else mixed in.
fn syntaxy(alphabet: &'static str) -> impl Strategy<Value = Vec<u8>> {
    let chars: Vec<u8> = alphabet.bytes().collect();
    proptest::collection::vec(
        prop_oneof![
            4 => proptest::sample::select(chars),
            1 => any::<u8>(),
        ],
        0..512,
    )
}

/// The seed corpus of a target: hostile inputs kept in `tests/fuzz-corpus/<name>/`, one a file,
/// replayed on every run before the generated ones (add a file for every input worth keeping).
fn corpus(name: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz-corpus")
        .join(name);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{}: an empty corpus", dir.display());
    files.iter().map(|f| std::fs::read(f).unwrap()).collect()
}

/// Runs `test` on the `seeds`, then on generated input: `PROPTEST_CASES` cases (256 by default),
/// or batches of fresh random cases until `PDGATE_FUZZ_SECONDS` have passed. A failure is shrunk,
/// persisted and panics.
fn fuzz<S: Strategy>(
    name: &str,
    seeds: Vec<S::Value>,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) {
    for (i, seed) in seeds.into_iter().enumerate() {
        if let Err(e) = test(seed) {
            panic!("{name}: corpus input {i}: {e}");
        }
    }
    let budget = std::env::var("PDGATE_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .map(Duration::from_secs);
    let config = Config {
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "tests/fuzz.proptest-regressions",
        ))),
        cases: if budget.is_some() {
            20_000
        } else {
            Config::default().cases
        },
        ..Config::default()
    };
    let started = Instant::now();
    let mut cases = 0u64;
    loop {
        let mut runner = TestRunner::new(config.clone());
        if let Err(e) = runner.run(&strategy, &test) {
            panic!("{name}: {e}");
        }
        cases += u64::from(config.cases);
        if budget.is_none_or(|b| started.elapsed() >= b) {
            break;
        }
    }
    eprintln!(
        "fuzz {name}: {cases} cases in {:.0} s, 0 failures",
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn the_canonicaliser_never_panics_and_is_idempotent() {
    fuzz(
        "canonical_path",
        corpus("canonical_path"),
        syntaxy("/.%2fF5cCeE0a-_~\\\\?#"),
        |raw| {
            let raw = String::from_utf8_lossy(&raw).into_owned();
            if let Ok(c) = pdgate::policy::canonical::canonical_path(&raw) {
                let again = pdgate::policy::canonical::canonical_path(&c);
                prop_assert_eq!(again.as_deref(), Ok(c.as_str()));
                prop_assert!(!c.contains("//") && !c.contains('\\'));
            }
            Ok(())
        },
    );
}

#[test]
fn the_urlencoded_codec_never_panics() {
    fuzz(
        "urlencoded",
        corpus("urlencoded"),
        syntaxy("a=&%+2F0x[]é"),
        |body| {
            if let Ok(leaves) = urlencoded::parse(&body, &limits()) {
                prop_assert!(leaves.len() <= 64);
                let outputs = vec![pdgate::forms::Output::Keep; leaves.len()];
                let again =
                    urlencoded::parse(&urlencoded::encode(&leaves, &outputs), &limits()).unwrap();
                prop_assert_eq!(again, leaves);
            }
            Ok(())
        },
    );
}

#[test]
fn the_json_codec_never_panics() {
    fuzz(
        "json",
        corpus("json"),
        syntaxy("{}[]\":,0123 truefalsnul\\\\u"),
        |body| {
            if let Ok((doc, leaves)) = json::parse(&body, &limits()) {
                let outputs = vec![pdgate::forms::Output::Keep; leaves.len()];
                let again = json::parse(&doc.encode(&outputs), &limits()).unwrap();
                prop_assert_eq!(again.1, leaves);
            }
            Ok(())
        },
    );
}

#[test]
fn the_multipart_codec_never_panics() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let alphabet = "--XB\r\nContent-Disposition: form-data; name=\"a\"; filename=\"f\"\r\n";
    fuzz(
        "multipart",
        corpus("multipart"),
        syntaxy(alphabet),
        |body| {
            let stream = futures_util::stream::iter([Ok::<_, std::io::Error>(Bytes::from(body))]);
            let parsed = rt.block_on(multipart::parse(stream, "XB".into(), &limits(), |_| {
                multipart::FilePolicy::Keep
            }));
            if let Ok(p) = parsed {
                prop_assert!(p.leaves.len() <= 64);
            }
            Ok(())
        },
    );
}

/// The smuggling guard: any byte stream, cut anywhere, gives the same verdict as in one piece.
#[test]
fn the_framing_guard_verdict_does_not_depend_on_how_bytes_arrive() {
    let piece = prop_oneof![
        Just(&b"POST / HTTP/1.1\r\n"[..]),
        Just(&b"Content-Length: 3\r\n"[..]),
        Just(&b"Content-Length: 3, 3\r\n"[..]),
        Just(&b"Transfer-Encoding: chunked\r\n"[..]),
        Just(&b"\r\n"[..]),
        Just(&b"3\r\nabc\r\n0\r\n\r\n"[..]),
        Just(&b"3;x=y\r\nabc\r\n0\r\nX-T: 1\r\n\r\n"[..]),
        Just(&b"abc"[..]),
    ];
    let wire = (
        proptest::collection::vec(
            prop_oneof![8 => piece.prop_map(<[u8]>::to_vec), 1 => proptest::collection::vec(any::<u8>(), 0..8)],
            0..16,
        ),
        0usize..600,
    );
    // Each corpus stream, cut at every byte.
    let seeds = corpus("framing")
        .into_iter()
        .flat_map(|w| (0..=w.len()).map(move |cut| (vec![w.clone()], cut)))
        .collect();
    fuzz("framing", seeds, wire, |(wire, cut)| {
        let bytes = wire.concat();
        let cut = cut.min(bytes.len());
        prop_assert_eq!(verdict(&[&bytes]), verdict(&[&bytes[..cut], &bytes[cut..]]));
        Ok(())
    });
}

#[test]
fn the_policy_loader_never_panics() {
    let alphabet = "routes:\n - id: r\n  match: {path: /x}\n  fields:\n   e: {action: tokenize}\n:-[]{},\"'#&*!|>";
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("policies");
    fuzz("policy", corpus("policy"), syntaxy(alphabet), |text| {
        let text = String::from_utf8_lossy(&text).into_owned();
        let _ = pdgate::policy::Policy::from_sources(&dir, &[(PathBuf::from("fuzz.yaml"), text)]);
        Ok(())
    });
}

#[test]
fn the_token_parsers_never_panic() {
    fuzz(
        "tokens",
        corpus("tokens"),
        syntaxy("eyJhbGciOiJIUzI1NiJ9.abc-_="),
        |token| {
            let token = String::from_utf8_lossy(&token).into_owned();
            prop_assert!(pdgate::consent::verify_subject_token(keys(), &token).is_none());
            prop_assert!(!verifier().is_own(&token));
            Ok(())
        },
    );
}

fn keys() -> &'static pdgate::crypto::Keys {
    use std::sync::OnceLock;
    static KEYS: OnceLock<pdgate::crypto::Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        pdgate::crypto::Keys::derive(
            pdgate::crypto::Kek::generate(1),
            &pdgate::crypto::RootSecret::generate(),
        )
    })
}

fn verifier() -> &'static pdgate::auth::Verifier {
    use std::sync::OnceLock;
    static V: OnceLock<pdgate::auth::Verifier> = OnceLock::new();
    V.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("secret");
        std::fs::write(&p, "0123456789abcdef0123456789abcdef").unwrap();
        let cfg = pdgate::config::Admin {
            jwt_secret_file: Some(p),
            ..pdgate::config::Admin::default()
        };
        pdgate::auth::Verifier::from_config(&cfg).unwrap().unwrap()
    })
}
