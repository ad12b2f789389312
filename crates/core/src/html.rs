//! The few pieces every HTML page pdgate writes shares (subject reports, the register, breach
//! notices): escaping and one plain, printable page shell with no external assets, so a page
//! saved to disk or attached to a letter looks the same offline.

/// Escapes text for element content and quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Opens a page: doctype, language, escaped title and the shared print-friendly style. The
/// caller appends the body and then [`END`].
pub fn start(lang: &str, title: &str) -> String {
    let mut h = String::with_capacity(16 * 1024);
    h.push_str("<!doctype html><html lang=\"");
    h.push_str(&esc(lang));
    h.push_str("\"><head><meta charset=\"utf-8\"><title>");
    h.push_str(&esc(title));
    h.push_str(
        "</title><style>body{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em}\
         table{border-collapse:collapse;width:100%}\
         td,th{border:1px solid #ccc;padding:.3em;text-align:left;vertical-align:top}\
         .ref{color:#555;white-space:nowrap}.gap{color:#a00}</style></head><body>",
    );
    h
}

/// Closes a page opened by [`start`].
pub const END: &str = "</body></html>";

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            super::esc("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        let page = super::start("ru", "<t>");
        assert!(page.contains("<title>&lt;t&gt;</title>") && page.contains("lang=\"ru\""));
    }
}
