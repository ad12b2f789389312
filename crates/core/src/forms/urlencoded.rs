//! `application/x-www-form-urlencoded`, strict: invalid percent-encoded UTF-8 is refused, not
//! replaced, so what the vault stores is exactly what the subject typed.

use bytes::Bytes;
use percent_encoding::percent_decode;

use super::{CodecLimits, FormError, Leaf, Output};

pub fn parse(body: &[u8], limits: &CodecLimits) -> Result<Vec<Leaf>, FormError> {
    let mut leaves = Vec::new();
    for pair in body.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
        if leaves.len() >= limits.max_fields {
            return Err(FormError::too_many_fields(limits.max_fields));
        }
        let (k, v) = match pair.iter().position(|&b| b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &[][..]),
        };
        leaves.push(Leaf {
            path: decode(k)?,
            value: decode(v)?,
        });
    }
    Ok(leaves)
}

fn decode(raw: &[u8]) -> Result<String, FormError> {
    let plus: Vec<u8> = raw
        .iter()
        .map(|&b| if b == b'+' { b' ' } else { b })
        .collect();
    percent_decode(&plus)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| FormError::new("invalid_utf8", "the form body is not valid UTF-8"))
}

pub fn encode(leaves: &[Leaf], outputs: &[Output]) -> Bytes {
    let mut ser = form_urlencoded::Serializer::new(String::new());
    for (leaf, out) in leaves.iter().zip(outputs) {
        match out {
            Output::Keep => ser.append_pair(&leaf.path, &leaf.value),
            Output::Replace(v) => ser.append_pair(&leaf.path, v),
            Output::Drop => &mut ser,
        };
    }
    Bytes::from(ser.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: CodecLimits = CodecLimits {
        max_fields: 4,
        max_json_depth: 8,
        max_parts: 4,
        max_body_bytes: 1 << 20,
    };

    #[test]
    fn round_trip_with_rewrites() {
        let leaves = parse(
            b"email=ivan%40mail.ru&name=%D0%98%D0%B2%D0%B0%D0%BD+%D0%9F&x=",
            &L,
        )
        .unwrap();
        assert_eq!(
            leaves[0],
            Leaf {
                path: "email".into(),
                value: "ivan@mail.ru".into()
            }
        );
        assert_eq!(leaves[1].value, "Иван П");
        assert_eq!(leaves[2].value, "");
        let out = encode(
            &leaves,
            &[
                Output::Replace("t-x@r.example".into()),
                Output::Keep,
                Output::Drop,
            ],
        );
        assert_eq!(
            &out[..],
            b"email=t-x%40r.example&name=%D0%98%D0%B2%D0%B0%D0%BD+%D0%9F"
        );
    }

    #[test]
    fn refuses_invalid_utf8_and_too_many_fields() {
        assert_eq!(parse(b"a=%FF", &L).unwrap_err().code, "invalid_utf8");
        assert_eq!(
            parse(b"a=1&b=2&c=3&d=4&e=5", &L).unwrap_err().code,
            "too_many_fields"
        );
    }

    proptest::proptest! {
        #[test]
        fn never_panics(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256)) {
            let _ = parse(&body, &L);
        }
    }
}
