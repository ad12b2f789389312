//! Property-based fuzzing of everything that parses hostile input before any decision: the path
//! canonicaliser, the three body codecs, the policy loader and the token parsers (the framing
//! guard's own property lives beside it in `src/proxy/framing.rs`). The property is the one no
//! input may break: no panic, and what is accepted is well formed.
//!
//! CI runs a smoke (`cargo test --test fuzz`, 256 cases a target). A long run, as in the README's
//! security section: `PROPTEST_CASES=200000 cargo test --release --test fuzz`. Failing inputs are
//! kept by proptest in `proptest-regressions/fuzz.txt` and replayed first on every run.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use bytes::Bytes;
use pdgate::forms::{json, multipart, urlencoded, CodecLimits};
use proptest::prelude::*;

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

proptest! {
    #[test]
    fn the_canonicaliser_never_panics_and_is_idempotent(raw in syntaxy("/.%2fF5cCeE0a-_~\\\\?#")) {
        let raw = String::from_utf8_lossy(&raw).into_owned();
        if let Ok(c) = pdgate::policy::canonical::canonical_path(&raw) {
            let again = pdgate::policy::canonical::canonical_path(&c);
            prop_assert_eq!(again.as_deref(), Ok(c.as_str()));
            prop_assert!(!c.contains("//") && !c.contains('\\'));
        }
    }

    #[test]
    fn the_urlencoded_codec_never_panics(body in syntaxy("a=&%+2F0x[]é")) {
        if let Ok(leaves) = urlencoded::parse(&body, &limits()) {
            prop_assert!(leaves.len() <= 64);
            let outputs = vec![pdgate::forms::Output::Keep; leaves.len()];
            let again = urlencoded::parse(&urlencoded::encode(&leaves, &outputs), &limits()).unwrap();
            prop_assert_eq!(again, leaves);
        }
    }

    #[test]
    fn the_json_codec_never_panics(body in syntaxy("{}[]\":,0123 truefalsnul\\\\u")) {
        if let Ok((doc, leaves)) = json::parse(&body, &limits()) {
            let outputs = vec![pdgate::forms::Output::Keep; leaves.len()];
            let again = json::parse(&doc.encode(&outputs), &limits()).unwrap();
            prop_assert_eq!(again.1, leaves);
        }
    }

    #[test]
    fn the_multipart_codec_never_panics(body in syntaxy("--XB\r\nContent-Disposition: form-data; name=\"a\"; filename=\"f\"\r\n")) {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let stream = futures_util::stream::iter([Ok::<_, std::io::Error>(Bytes::from(body))]);
        let parsed = rt.block_on(multipart::parse(stream, "XB".into(), &limits(), |_| multipart::FilePolicy::Keep));
        if let Ok(p) = parsed {
            prop_assert!(p.leaves.len() <= 64);
        }
    }

    #[test]
    fn the_policy_loader_never_panics(text in syntaxy("routes:\n - id: r\n  match: {path: /x}\n  fields:\n   e: {action: tokenize}\n:-[]{},\"'#&*!|>")) {
        let text = String::from_utf8_lossy(&text).into_owned();
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("policies");
        let _ = pdgate::policy::Policy::from_sources(&dir, &[(PathBuf::from("fuzz.yaml"), text)]);
    }

    #[test]
    fn the_token_parsers_never_panic(token in syntaxy("eyJhbGciOiJIUzI1NiJ9.abc-_=")) {
        let token = String::from_utf8_lossy(&token).into_owned();
        let keys = keys();
        prop_assert!(pdgate::consent::verify_subject_token(keys, &token).is_none());
        let _ = verifier().verify(&token);
    }
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

fn verifier() -> &'static pdgate::admin::auth::Verifier {
    use std::sync::OnceLock;
    static V: OnceLock<pdgate::admin::auth::Verifier> = OnceLock::new();
    V.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("secret");
        std::fs::write(&p, "0123456789abcdef0123456789abcdef").unwrap();
        let cfg = pdgate::config::Admin {
            jwt_secret_file: Some(p),
            ..pdgate::config::Admin::default()
        };
        pdgate::admin::auth::Verifier::from_config(&cfg)
            .unwrap()
            .unwrap()
    })
}
