//! The register as files: JSON for tools, CSV for spreadsheets (one row per item), Markdown for
//! wikis and diffs, HTML to read, print or attach. All four carry the same items in the same
//! order; the values are the JSON of [`Item::value`](super::Item), laid out per format.

use serde_json::Value;

use super::Register;
use crate::html::esc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Csv,
    Markdown,
    Html,
    /// The 152-FZ view as Roskomnadzor's notification form, in Russian (see [`super::form_ru`]).
    Form,
}

impl Format {
    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "json" => Some(Format::Json),
            "csv" => Some(Format::Csv),
            "md" | "markdown" => Some(Format::Markdown),
            "html" => Some(Format::Html),
            "form" => Some(Format::Form),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Csv => "text/csv; charset=utf-8",
            Format::Markdown => "text/markdown; charset=utf-8",
            Format::Html | Format::Form => "text/html; charset=utf-8",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Csv => "csv",
            Format::Markdown => "md",
            Format::Html | Format::Form => "html",
        }
    }
}

pub fn render(r: &Register, format: Format) -> String {
    match format {
        Format::Json => {
            let mut s = serde_json::to_string_pretty(r).expect("the register serializes");
            s.push('\n');
            s
        }
        Format::Csv => csv(r),
        Format::Markdown => markdown(r),
        // The form is built from the inputs (`super::document`); from a register, the page.
        Format::Html | Format::Form => html(r),
    }
}

/// A value as one line of text: lists joined by `; `, objects as `key: value` pairs.
pub fn flat(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::Bool(true) => "yes".into(),
        Value::Bool(false) => "no".into(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Array(a) => a
            .iter()
            .map(|x| match x {
                Value::Object(_) => format!("({})", flat(x)),
                _ => flat(x),
            })
            .collect::<Vec<_>>()
            .join("; "),
        Value::Object(o) => o
            .iter()
            .filter(|(_, x)| !x.is_null())
            .map(|(k, x)| match x {
                Value::Object(_) => format!("{k}: ({})", flat(x)),
                _ => format!("{k}: {}", flat(x)),
            })
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// One CSV cell (RFC 4180 quoting), with spreadsheet formula triggers neutralized.
fn cell(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_owned()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

fn csv(r: &Register) -> String {
    let mut out = String::from("section,ref,item,label,value\r\n");
    let mut row = |cols: [&str; 5]| {
        let line: Vec<String> = cols.iter().map(|c| cell(c)).collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    };
    for s in &r.sections {
        for i in &s.items {
            row([s.id, i.reference, i.key, i.label, &flat(&i.value)]);
        }
    }
    for g in &r.gaps {
        row(["gaps", g.reference, "gap", "", &g.message]);
    }
    out
}

/// Keys of an array of objects, in order of first appearance.
fn columns(rows: &[Value]) -> Option<Vec<&str>> {
    let mut cols: Vec<&str> = Vec::new();
    for r in rows {
        for k in r.as_object()?.keys() {
            if !cols.contains(&k.as_str()) {
                cols.push(k);
            }
        }
    }
    Some(cols)
}

fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

fn md_value(v: &Value, out: &mut String) {
    match v {
        Value::Array(rows) if !rows.is_empty() && rows.iter().all(Value::is_object) => {
            let cols = columns(rows).unwrap_or_default();
            out.push_str(&format!("| {} |\n", cols.join(" | ")));
            out.push_str(&format!("|{}\n", "---|".repeat(cols.len())));
            for r in rows {
                let cells: Vec<String> = cols.iter().map(|c| md_cell(&flat(&r[*c]))).collect();
                out.push_str(&format!("| {} |\n", cells.join(" | ")));
            }
            out.push('\n');
        }
        Value::Object(o) => {
            for (k, x) in o {
                match x {
                    Value::Array(a) if !a.is_empty() && a.iter().all(Value::is_object) => {
                        out.push_str(&format!("- **{k}**:\n\n"));
                        md_value(x, out);
                    }
                    _ => out.push_str(&format!("- **{k}**: {}\n", md_cell(&flat(x)))),
                }
            }
            out.push('\n');
        }
        Value::Array(a) if a.is_empty() => out.push_str("—\n\n"),
        Value::Null => out.push_str("—\n\n"),
        other => out.push_str(&format!("{}\n\n", md_cell(&flat(other)))),
    }
}

fn markdown(r: &Register) -> String {
    let mut out = format!(
        "# {}\n\n{} · {} · {}\n\n",
        r.title, r.operator, r.generated_at, r.generator
    );
    for s in &r.sections {
        out.push_str(&format!("## {}\n\n", s.title));
        for i in &s.items {
            if i.reference.is_empty() {
                out.push_str(&format!("### {}\n\n", i.label));
            } else {
                out.push_str(&format!("### {} — {}\n\n", i.reference, i.label));
            }
            md_value(&i.value, &mut out);
        }
    }
    if !r.gaps.is_empty() {
        out.push_str("## Пробелы / Gaps\n\n");
        for g in &r.gaps {
            out.push_str(&format!("- **{}**: {}\n", g.reference, md_cell(&g.message)));
        }
    }
    out
}

fn html_value(v: &Value, out: &mut String) {
    match v {
        Value::Array(rows) if !rows.is_empty() && rows.iter().all(Value::is_object) => {
            let cols = columns(rows).unwrap_or_default();
            out.push_str("<table><tr>");
            for c in &cols {
                out.push_str(&format!("<th>{}</th>", esc(c)));
            }
            out.push_str("</tr>");
            for r in rows {
                out.push_str("<tr>");
                for c in &cols {
                    out.push_str("<td>");
                    html_value(&r[*c], out);
                    out.push_str("</td>");
                }
                out.push_str("</tr>");
            }
            out.push_str("</table>");
        }
        Value::Object(o) => {
            out.push_str("<table>");
            for (k, x) in o {
                out.push_str(&format!("<tr><th>{}</th><td>", esc(k)));
                html_value(x, out);
                out.push_str("</td></tr>");
            }
            out.push_str("</table>");
        }
        Value::Null => out.push('—'),
        other => out.push_str(&esc(&flat(other))),
    }
}

fn html(r: &Register) -> String {
    let lang = if r.view == super::View::Fz152 {
        "ru"
    } else {
        "en"
    };
    let mut h = crate::html::start(lang, r.title);
    h.push_str(&format!(
        "<h1>{}</h1><p>{} · {} · {}</p>",
        esc(r.title),
        esc(&r.operator),
        esc(&r.generated_at),
        esc(&r.generator)
    ));
    if !r.gaps.is_empty() {
        h.push_str("<h2 class=\"gap\">Пробелы / Gaps</h2><ul class=\"gap\">");
        for g in &r.gaps {
            h.push_str(&format!(
                "<li><b>{}</b>: {}</li>",
                esc(g.reference),
                esc(&g.message)
            ));
        }
        h.push_str("</ul>");
    }
    for s in &r.sections {
        h.push_str(&format!(
            "<h2 id=\"{}\">{}</h2><table>",
            esc(s.id),
            esc(s.title)
        ));
        for i in &s.items {
            h.push_str(&format!(
                "<tr id=\"{}\"><td class=\"ref\">{}</td><th>{}</th><td>",
                esc(i.key),
                esc(i.reference),
                esc(i.label)
            ));
            html_value(&i.value, &mut h);
            h.push_str("</td></tr>");
        }
        h.push_str("</table>");
    }
    h.push_str(crate::html::END);
    h
}
