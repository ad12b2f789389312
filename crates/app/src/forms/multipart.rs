//! `multipart/form-data`: text parts are fields; file parts are never held in memory — a kept file
//! is spooled to an anonymous temporary file while the body is read (the vault must commit before
//! anything is forwarded, and a file may come before the fields it belongs with) and streamed from
//! there to the upstream; a dropped file is read and discarded chunk by chunk.

use std::io::SeekFrom;

use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use super::{CodecLimits, FormError, Leaf, Output};

/// What to do with a file part, decided by the route's policy for its field name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilePolicy {
    Keep,
    Drop,
    Reject,
}

/// Largest text part accepted; text parts are personal fields, not uploads.
const MAX_TEXT_PART: u64 = 1 << 20;

pub struct Parsed {
    pub leaves: Vec<Leaf>,
    parts: Vec<Part>,
    boundary: String,
}

enum Part {
    Text {
        leaf: usize,
        content_type: Option<String>,
    },
    File {
        name: String,
        filename: String,
        content_type: Option<String>,
        spool: tokio::fs::File,
        len: u64,
    },
}

pub async fn parse<S, E>(
    stream: S,
    boundary: String,
    limits: &CodecLimits,
    file_policy: impl Fn(&str) -> FilePolicy,
) -> Result<Parsed, FormError>
where
    S: Stream<Item = Result<Bytes, E>> + Send + 'static,
    E: Into<Box<dyn std::error::Error + Send + Sync>> + 'static,
{
    let constraints = multer::Constraints::new()
        .size_limit(multer::SizeLimit::new().whole_stream(limits.max_body_bytes));
    let mut mp = multer::Multipart::with_constraints(stream, boundary.clone(), constraints);
    let mut leaves = Vec::new();
    let mut parts = Vec::new();
    while let Some(mut field) = mp.next_field().await.map_err(map_err)? {
        if parts.len() >= limits.max_parts {
            return Err(FormError::new(
                "too_many_parts",
                format!("the body has more than {} parts", limits.max_parts),
            ));
        }
        let name = field.name().unwrap_or_default().to_owned();
        let content_type = field.content_type().map(|m| m.to_string());
        if let Some(filename) = field.file_name().map(str::to_owned) {
            match file_policy(&name) {
                FilePolicy::Reject => {
                    return Err(FormError::new(
                        "undeclared_field",
                        format!("file part `{name}` is not declared by this route"),
                    ))
                }
                FilePolicy::Drop => while field.chunk().await.map_err(map_err)?.is_some() {},
                FilePolicy::Keep => {
                    let file = tempfile::tempfile()
                        .map_err(|_| FormError::new("spool_failed", "cannot spool a file part"))?;
                    let mut spool = tokio::fs::File::from_std(file);
                    let mut len = 0u64;
                    while let Some(chunk) = field.chunk().await.map_err(map_err)? {
                        len += chunk.len() as u64;
                        spool.write_all(&chunk).await.map_err(|_| {
                            FormError::new("spool_failed", "cannot spool a file part")
                        })?;
                    }
                    parts.push(Part::File {
                        name,
                        filename,
                        content_type,
                        spool,
                        len,
                    });
                }
            }
            continue;
        }
        if leaves.len() >= limits.max_fields {
            return Err(FormError::too_many_fields(limits.max_fields));
        }
        let mut buf = BytesMut::new();
        while let Some(chunk) = field.chunk().await.map_err(map_err)? {
            if (buf.len() + chunk.len()) as u64 > MAX_TEXT_PART {
                return Err(FormError::new(
                    "body_too_large",
                    format!("text part `{name}` exceeds {MAX_TEXT_PART} bytes"),
                ));
            }
            buf.extend_from_slice(&chunk);
        }
        let value = String::from_utf8(buf.to_vec()).map_err(|_| {
            FormError::new("invalid_utf8", format!("part `{name}` is not valid UTF-8"))
        })?;
        parts.push(Part::Text {
            leaf: leaves.len(),
            content_type,
        });
        leaves.push(Leaf { path: name, value });
    }
    Ok(Parsed {
        leaves,
        parts,
        boundary,
    })
}

fn map_err(e: multer::Error) -> FormError {
    match e {
        multer::Error::StreamSizeExceeded { limit }
        | multer::Error::FieldSizeExceeded { limit, .. } => {
            FormError::new("body_too_large", format!("the body exceeds {limit} bytes"))
        }
        multer::Error::StreamReadFailed(_) => {
            FormError::new("body_read_failed", "the request body could not be read")
        }
        _ => FormError::malformed("malformed multipart body"),
    }
}

/// A rewritten multipart body: small header/text pieces in memory, kept files from their spools.
pub struct Rewritten {
    pieces: Vec<Piece>,
    len: u64,
}

enum Piece {
    Bytes(Bytes),
    File(tokio::fs::File),
}

impl Parsed {
    pub fn encode(self, outputs: &[Output]) -> Rewritten {
        let mut pieces = Vec::new();
        let mut len = 0u64;
        let mut head = String::new();
        let b = &self.boundary;
        for part in self.parts {
            match part {
                Part::Text { leaf, content_type } => {
                    let value = match &outputs[leaf] {
                        Output::Drop => continue,
                        Output::Keep => &self.leaves[leaf].value,
                        Output::Replace(v) => v,
                    };
                    head.push_str(&format!(
                        "--{b}\r\nContent-Disposition: form-data; name=\"{}\"\r\n",
                        quote(&self.leaves[leaf].path)
                    ));
                    if let Some(ct) = content_type {
                        head.push_str(&format!("Content-Type: {ct}\r\n"));
                    }
                    head.push_str("\r\n");
                    head.push_str(value);
                    head.push_str("\r\n");
                }
                Part::File {
                    name,
                    filename,
                    content_type,
                    spool,
                    len: file_len,
                } => {
                    head.push_str(&format!(
                        "--{b}\r\nContent-Disposition: form-data; name=\"{}\"; filename=\"{}\"\r\nContent-Type: {}\r\n\r\n",
                        quote(&name),
                        quote(&filename),
                        content_type.as_deref().unwrap_or("application/octet-stream")
                    ));
                    len += head.len() as u64 + file_len;
                    pieces.push(Piece::Bytes(Bytes::from(std::mem::take(&mut head))));
                    pieces.push(Piece::File(spool));
                    head.push_str("\r\n");
                }
            }
        }
        head.push_str(&format!("--{b}--\r\n"));
        len += head.len() as u64;
        pieces.push(Piece::Bytes(Bytes::from(head)));
        Rewritten { pieces, len }
    }

    /// Whether the boundary occurs in any new value (then the body must not be rewritten as is).
    pub fn boundary_collides(&self, outputs: &[Output]) -> bool {
        outputs
            .iter()
            .any(|o| matches!(o, Output::Replace(v) if v.contains(self.boundary.as_str())))
    }
}

/// HTML's form-data escaping of names: `"` and line breaks percent-encoded.
fn quote(s: &str) -> String {
    s.replace('"', "%22")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

impl Rewritten {
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The body as a stream of chunks, files read 64 KiB at a time.
    pub fn into_stream(self) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
        let pieces = self.pieces.into_iter();
        futures_util::stream::unfold(
            (pieces, None::<tokio::fs::File>),
            |(mut pieces, mut current)| async move {
                loop {
                    if let Some(file) = current.as_mut() {
                        let mut buf = BytesMut::with_capacity(64 * 1024);
                        match file.read_buf(&mut buf).await {
                            Ok(0) => current = None,
                            Ok(_) => return Some((Ok(buf.freeze()), (pieces, current))),
                            Err(e) => return Some((Err(e), (pieces, None))),
                        }
                        continue;
                    }
                    match pieces.next()? {
                        Piece::Bytes(b) => return Some((Ok(b), (pieces, None))),
                        Piece::File(mut f) => {
                            if let Err(e) = f.seek(SeekFrom::Start(0)).await {
                                return Some((Err(e), (pieces, None)));
                            }
                            current = Some(f);
                        }
                    }
                }
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    const L: CodecLimits = CodecLimits {
        max_fields: 8,
        max_json_depth: 4,
        max_parts: 4,
        max_body_bytes: 1 << 20,
    };

    fn body(parts: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, file, content) in parts {
            out.extend_from_slice(b"--XyZ\r\n");
            match file {
                Some(f) => out.extend_from_slice(format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: application/pdf\r\n\r\n").as_bytes()),
                None => out.extend_from_slice(format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes()),
            }
            out.extend_from_slice(content);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"--XyZ--\r\n");
        out
    }

    async fn run(b: Vec<u8>, policy: FilePolicy) -> Result<Parsed, FormError> {
        let stream = futures_util::stream::iter(
            b.chunks(7)
                .map(|c| Ok::<_, std::io::Error>(Bytes::copy_from_slice(c)))
                .collect::<Vec<_>>(),
        );
        parse(stream, "XyZ".into(), &L, move |_| policy).await
    }

    async fn collect(r: Rewritten) -> Vec<u8> {
        let len = r.len();
        let chunks: Vec<_> = r.into_stream().collect().await;
        let out: Vec<u8> = chunks
            .into_iter()
            .flat_map(|c| c.unwrap().to_vec())
            .collect();
        assert_eq!(
            out.len() as u64,
            len,
            "declared length must match the bytes sent"
        );
        out
    }

    #[tokio::test]
    async fn rewrites_text_and_streams_files() {
        let pdf = vec![b'%'; 200_000];
        let parsed = run(
            body(&[
                ("cv", Some("cv.pdf"), &pdf),
                ("email", None, b"ivan@mail.ru"),
                ("x", None, b"1"),
            ]),
            FilePolicy::Keep,
        )
        .await
        .unwrap();
        assert_eq!(
            parsed
                .leaves
                .iter()
                .map(|l| (l.path.as_str(), l.value.as_str()))
                .collect::<Vec<_>>(),
            [("email", "ivan@mail.ru"), ("x", "1")]
        );
        let out = collect(parsed.encode(&[Output::Replace("t-a@r".into()), Output::Drop])).await;
        let expected = body(&[("cv", Some("cv.pdf"), &pdf), ("email", None, b"t-a@r")]);
        assert_eq!(out, expected);
    }

    #[tokio::test]
    async fn dropped_and_rejected_files() {
        let parsed = run(
            body(&[("cv", Some("cv.pdf"), b"data"), ("a", None, b"1")]),
            FilePolicy::Drop,
        )
        .await
        .unwrap();
        let out = collect(parsed.encode(&[Output::Keep])).await;
        assert_eq!(out, body(&[("a", None, b"1")]));
        let err = run(body(&[("cv", Some("cv.pdf"), b"data")]), FilePolicy::Reject)
            .await
            .err()
            .unwrap();
        assert_eq!(err.code, "undeclared_field");
    }

    #[tokio::test]
    async fn limits_and_malformed() {
        let many: Vec<(&str, Option<&str>, &[u8])> = vec![("a", None, b"1"); 5];
        assert_eq!(
            run(body(&many), FilePolicy::Keep).await.err().unwrap().code,
            "too_many_parts"
        );
        assert_eq!(
            run(b"--XyZ\r\ngarbage".to_vec(), FilePolicy::Keep)
                .await
                .err()
                .unwrap()
                .code,
            "malformed_body"
        );
        assert_eq!(
            run(body(&[("a", None, b"\xff\xfe")]), FilePolicy::Keep)
                .await
                .err()
                .unwrap()
                .code,
            "invalid_utf8"
        );
    }
}
