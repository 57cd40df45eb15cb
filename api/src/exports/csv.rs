//! CSV as spreadsheets read it: RFC 4180 quoting, a header row, the
//! delimiter a Portuguese Excel expects when asked (`;`), an optional
//! byte-order mark, and text cells that a spreadsheet would run as a
//! formula neutralised.

use serde_json::Value;

/// How the file is written, from the export's query parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CsvOptions {
    pub delimiter: u8,
    /// A UTF-8 byte-order mark first, so that Excel reads the accents.
    pub bom: bool,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            delimiter: b',',
            bom: false,
        }
    }
}

impl CsvOptions {
    /// Reads `delimiter` (`,`, `;` or `tab`) and `bom` (`true` or `false`).
    pub fn parse(delimiter: Option<&str>, bom: Option<&str>) -> Result<Self, String> {
        let delimiter = match delimiter {
            None | Some(",") => b',',
            Some(";") => b';',
            Some("tab") | Some("\t") => b'\t',
            Some(_) => return Err("`delimiter` must be `,`, `;` or `tab`".to_owned()),
        };
        let bom = match bom {
            None | Some("false") => false,
            Some("true") => true,
            Some(_) => return Err("`bom` must be `true` or `false`".to_owned()),
        };
        Ok(CsvOptions { delimiter, bom })
    }
}

/// A text starting with one of these is a formula to a spreadsheet.
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// Whether `text` is a plain decimal number (as amounts are written), which
/// a spreadsheet reads as a number, not a formula.
fn is_number(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let mut parts = digits.splitn(2, '.');
    let whole = parts.next().unwrap_or_default();
    let fraction = parts.next();
    !whole.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction.is_none_or(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()))
}

/// Appends `text` as one field, quoted where it must be, after a `'` when
/// a spreadsheet would run it.
fn push_text(out: &mut Vec<u8>, text: &str, delimiter: u8) {
    let inert = text.starts_with(FORMULA_STARTS) && !is_number(text);
    let quote = text
        .bytes()
        .any(|b| b == delimiter || b == b'"' || b == b'\n' || b == b'\r');
    if quote {
        out.push(b'"');
    }
    if inert {
        out.push(b'\'');
    }
    if quote {
        for (index, chunk) in text.split('"').enumerate() {
            if index > 0 {
                out.extend_from_slice(b"\"\"");
            }
            out.extend_from_slice(chunk.as_bytes());
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(text.as_bytes());
    }
}

/// Appends one value as a field: null is empty, JSON objects and lists are
/// written as compact JSON.
fn push_value(out: &mut Vec<u8>, value: &Value, delimiter: u8) {
    match value {
        Value::Null => {}
        Value::String(text) => push_text(out, text, delimiter),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Number(n) => out.extend_from_slice(n.to_string().as_bytes()),
        other => push_text(out, &other.to_string(), delimiter),
    }
}

/// Appends one record of `fields`, ended by CRLF.
pub fn push_record<'a>(
    out: &mut Vec<u8>,
    fields: impl IntoIterator<Item = &'a str>,
    options: CsvOptions,
) {
    for (index, field) in fields.into_iter().enumerate() {
        if index > 0 {
            out.push(options.delimiter);
        }
        push_text(out, field, options.delimiter);
    }
    out.extend_from_slice(b"\r\n");
}

/// Appends the record of `row`'s `columns` (a serialized row; a column it
/// lacks is empty).
pub fn push_row(out: &mut Vec<u8>, row: &Value, columns: &[&str], options: CsvOptions) {
    for (index, column) in columns.iter().enumerate() {
        if index > 0 {
            out.push(options.delimiter);
        }
        if let Some(value) = row.get(*column) {
            push_value(out, value, options.delimiter);
        }
    }
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(row: Value, options: CsvOptions) -> String {
        let mut out = Vec::new();
        push_row(&mut out, &row, &["a", "b", "c"], options);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn fields_are_quoted_as_rfc_4180_says() {
        let options = CsvOptions::default();
        assert_eq!(
            record(
                json!({"a": "plain", "b": "with, comma", "c": "say \"oi\""}),
                options
            ),
            "plain,\"with, comma\",\"say \"\"oi\"\"\"\r\n"
        );
        assert_eq!(
            record(json!({"a": "two\nlines", "b": null, "c": 3}), options),
            "\"two\nlines\",,3\r\n"
        );
        let excel = CsvOptions::parse(Some(";"), Some("true")).unwrap();
        assert_eq!(
            record(json!({"a": "1,5", "b": "x;y", "c": true}), excel),
            "1,5;\"x;y\";true\r\n"
        );
    }

    #[test]
    fn formulas_are_neutralised_but_numbers_are_not() {
        let options = CsvOptions::default();
        assert_eq!(
            record(
                json!({"a": "=HYPERLINK(\"http://x\")", "b": "+5511", "c": "@SUM(A1)"}),
                options
            ),
            "\"'=HYPERLINK(\"\"http://x\"\")\",'+5511,'@SUM(A1)\r\n"
        );
        assert_eq!(
            record(json!({"a": "-347.20", "b": "-1+1", "c": "-"}), options),
            "-347.20,'-1+1,'-\r\n"
        );
        assert_eq!(
            record(json!({"a": {"k": [1]}, "b": [], "c": "ok"}), options),
            "\"{\"\"k\"\":[1]}\",[],ok\r\n"
        );
    }

    #[test]
    fn options_are_checked() {
        assert!(CsvOptions::parse(Some("|"), None).is_err());
        assert!(CsvOptions::parse(None, Some("yes")).is_err());
        assert_eq!(
            CsvOptions::parse(Some("tab"), None).unwrap().delimiter,
            b'\t'
        );
    }
}
