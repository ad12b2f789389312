//! Body codecs at the edge: the content type's codec, the streaming multipart codec, and the
//! rewritten body ready to forward. Leaves and the urlencoded and JSON codecs are
//! [`pdgate_core::forms`].

pub use pdgate_core::forms::*;

pub mod multipart;

use bytes::Bytes;

/// The codec for a `Content-Type` value, and the multipart boundary where there is one.
pub fn codec_of(ct: &str) -> Option<(Codec, Option<String>)> {
    let mut parts = ct.split(';');
    let essence = parts.next()?.trim().to_ascii_lowercase();
    match essence.as_str() {
        "application/x-www-form-urlencoded" => Some((Codec::Urlencoded, None)),
        "application/json" => Some((Codec::Json, None)),
        e if e.ends_with("+json") && e.starts_with("application/") => Some((Codec::Json, None)),
        "multipart/form-data" => {
            let boundary = multer::parse_boundary(ct).ok()?;
            Some((Codec::Multipart, Some(boundary)))
        }
        _ => None,
    }
}

/// A rewritten body ready to forward.
pub enum Encoded {
    Whole(Bytes),
    Multipart(multipart::Rewritten),
}

impl Encoded {
    pub fn len(&self) -> u64 {
        match self {
            Encoded::Whole(b) => b.len() as u64,
            Encoded::Multipart(m) => m.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        assert_eq!(
            codec_of("application/json; charset=utf-8"),
            Some((Codec::Json, None))
        );
        assert_eq!(
            codec_of("Application/X-WWW-Form-Urlencoded"),
            Some((Codec::Urlencoded, None))
        );
        assert_eq!(
            codec_of("multipart/form-data; boundary=abc"),
            Some((Codec::Multipart, Some("abc".into())))
        );
        assert_eq!(codec_of("multipart/form-data"), None);
        assert_eq!(codec_of("text/plain"), None);
    }
}
