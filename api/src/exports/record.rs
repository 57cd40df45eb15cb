//! A row written into its CSV record while it serializes: each field's
//! text goes straight into the cell of its column, with no JSON value built
//! between the row read and the bytes sent.

use std::fmt::{Display, Write as _};

use serde::Serialize;
use serde::ser::{self, Impossible, SerializeStruct};

use super::csv::{CsvOptions, push_text};

/// How a cell is written.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Null: nothing between the delimiters.
    #[default]
    Empty,
    /// A number or a flag, written as it is.
    Plain,
    /// Text: quoted where it must be, neutralised where a spreadsheet would
    /// run it.
    Text,
}

#[derive(Debug, Default)]
struct Cell {
    text: String,
    kind: Kind,
}

/// Writes rows of one shape as records of `columns` (the rows' field
/// names; a column a row lacks is empty), the `decimals` among them at two
/// places (SQLite reads `497.00` back as `497`).
pub struct RecordWriter {
    columns: &'static [&'static str],
    decimal: Vec<bool>,
    cells: Vec<Cell>,
    /// The column of each field of the row, in the order the row gives
    /// them, learnt from the first row.
    slots: Vec<(&'static str, Option<usize>)>,
}

/// Why a row could not be written.
#[derive(Debug)]
pub enum RecordError {
    /// A list or an object: written as compact JSON instead.
    Compound,
    Other(String),
}

impl Display for RecordError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RecordError::Compound => f.write_str("a compound value where a cell was expected"),
            RecordError::Other(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for RecordError {}

impl ser::Error for RecordError {
    fn custom<T: Display>(message: T) -> Self {
        RecordError::Other(message.to_string())
    }
}

impl RecordWriter {
    pub fn new(columns: &'static [&'static str], decimals: &[&str]) -> Self {
        RecordWriter {
            columns,
            decimal: columns.iter().map(|c| decimals.contains(c)).collect(),
            cells: columns.iter().map(|_| Cell::default()).collect(),
            slots: Vec::new(),
        }
    }

    /// Appends the record of `row` to `out`, ended by CRLF.
    pub fn push<T: Serialize>(
        &mut self,
        out: &mut Vec<u8>,
        row: &T,
        options: CsvOptions,
    ) -> Result<(), RecordError> {
        for cell in &mut self.cells {
            cell.text.clear();
            cell.kind = Kind::Empty;
        }
        row.serialize(Target::Row(self))?;
        for (index, cell) in self.cells.iter().enumerate() {
            if index > 0 {
                out.push(options.delimiter);
            }
            match cell.kind {
                Kind::Empty => {}
                Kind::Plain => out.extend_from_slice(cell.text.as_bytes()),
                Kind::Text => push_text(out, &cell.text, options.delimiter),
            }
        }
        out.extend_from_slice(b"\r\n");
        Ok(())
    }

    /// The column of the row's `field`-th field, named `key`.
    fn slot(&mut self, field: usize, key: &'static str) -> Option<usize> {
        match self.slots.get(field) {
            Some((known, slot)) if *known == key => *slot,
            _ => {
                let slot = self.columns.iter().position(|c| *c == key);
                if field < self.slots.len() {
                    self.slots[field] = (key, slot);
                } else if field == self.slots.len() {
                    self.slots.push((key, slot));
                }
                slot
            }
        }
    }

    fn write_field<T: Serialize + ?Sized>(
        &mut self,
        field: usize,
        key: &'static str,
        value: &T,
    ) -> Result<(), RecordError> {
        let Some(slot) = self.slot(field, key) else {
            return Ok(());
        };
        let cell = &mut self.cells[slot];
        match value.serialize(Target::Cell(&mut *cell)) {
            Ok(()) => {}
            Err(RecordError::Compound) => {
                cell.text = serde_json::to_string(value)
                    .map_err(|err| RecordError::Other(err.to_string()))?;
                cell.kind = Kind::Text;
            }
            Err(err) => return Err(err),
        }
        if self.decimal[slot]
            && cell.kind != Kind::Empty
            && let Ok(amount) = cell.text.parse::<rust_decimal::Decimal>()
        {
            cell.text.clear();
            let _ = write!(cell.text, "{}", entity::money::amount(amount));
            cell.kind = Kind::Text;
        }
        Ok(())
    }
}

/// Serializes a row: a struct whose fields go to their cells.
struct Fields<'a> {
    writer: &'a mut RecordWriter,
    field: usize,
}

impl SerializeStruct for Fields<'_> {
    type Ok = ();
    type Error = RecordError;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), RecordError> {
        let field = self.field;
        self.field += 1;
        self.writer.write_field(field, key, value)
    }

    fn end(self) -> Result<(), RecordError> {
        Ok(())
    }
}

fn not_a_row<T>() -> Result<T, RecordError> {
    Err(RecordError::Other("an exported row is a struct".to_owned()))
}

/// What a value serializes into: the row (a struct, each field to its
/// cell) or one cell.
enum Target<'a> {
    Row(&'a mut RecordWriter),
    Cell(&'a mut Cell),
}

impl<'a> Target<'a> {
    fn cell(self) -> Result<&'a mut Cell, RecordError> {
        match self {
            Target::Cell(cell) => Ok(cell),
            Target::Row(_) => not_a_row(),
        }
    }

    fn write(self, value: impl Display, kind: Kind) -> Result<(), RecordError> {
        let cell = self.cell()?;
        let _ = write!(cell.text, "{value}");
        cell.kind = kind;
        Ok(())
    }

    /// A list or an object: no row, and a cell holds it as JSON.
    fn compound<T>(self) -> Result<T, RecordError> {
        match self {
            Target::Cell(_) => Err(RecordError::Compound),
            Target::Row(_) => not_a_row(),
        }
    }
}

macro_rules! plain {
    ($($method:ident: $type:ty),*) => {
        $(fn $method(self, value: $type) -> Result<(), RecordError> {
            self.write(value, Kind::Plain)
        })*
    };
}

impl<'a> ser::Serializer for Target<'a> {
    type Ok = ();
    type Error = RecordError;
    type SerializeSeq = Impossible<(), RecordError>;
    type SerializeTuple = Impossible<(), RecordError>;
    type SerializeTupleStruct = Impossible<(), RecordError>;
    type SerializeTupleVariant = Impossible<(), RecordError>;
    type SerializeMap = Impossible<(), RecordError>;
    type SerializeStruct = Fields<'a>;
    type SerializeStructVariant = Impossible<(), RecordError>;

    plain!(serialize_bool: bool, serialize_i8: i8, serialize_i16: i16, serialize_i32: i32,
        serialize_i64: i64, serialize_i128: i128, serialize_u8: u8, serialize_u16: u16,
        serialize_u32: u32, serialize_u64: u64, serialize_u128: u128);

    fn serialize_f32(self, value: f32) -> Result<(), RecordError> {
        self.serialize_f64(f64::from(value))
    }

    fn serialize_f64(self, value: f64) -> Result<(), RecordError> {
        // As JSON writes it; not a number is null.
        match serde_json::Number::from_f64(value) {
            Some(number) => self.write(number, Kind::Plain),
            None => self.serialize_none(),
        }
    }

    fn serialize_char(self, value: char) -> Result<(), RecordError> {
        self.write(value, Kind::Text)
    }

    fn serialize_str(self, value: &str) -> Result<(), RecordError> {
        let cell = self.cell()?;
        cell.text.push_str(value);
        cell.kind = Kind::Text;
        Ok(())
    }

    fn collect_str<T: Display + ?Sized>(self, value: &T) -> Result<(), RecordError> {
        self.write(value, Kind::Text)
    }

    fn serialize_bytes(self, _: &[u8]) -> Result<(), RecordError> {
        self.compound()
    }

    fn serialize_none(self) -> Result<(), RecordError> {
        self.cell().map(|_| ())
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), RecordError> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<(), RecordError> {
        self.serialize_none()
    }

    fn serialize_unit_struct(self, _: &'static str) -> Result<(), RecordError> {
        self.serialize_none()
    }

    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<(), RecordError> {
        self.serialize_str(variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), RecordError> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), RecordError> {
        self.compound()
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, RecordError> {
        self.compound()
    }

    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, RecordError> {
        self.compound()
    }

    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, RecordError> {
        self.compound()
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, RecordError> {
        self.compound()
    }

    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, RecordError> {
        self.compound()
    }

    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Fields<'a>, RecordError> {
        match self {
            Target::Row(writer) => Ok(Fields { writer, field: 0 }),
            Target::Cell(_) => Err(RecordError::Compound),
        }
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, RecordError> {
        self.compound()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[derive(Serialize)]
    struct Row {
        a: Value,
        b: Value,
        c: Value,
        ignored: Value,
    }

    fn record(row: Value, options: CsvOptions) -> String {
        let cell = |key: &str| row.get(key).cloned().unwrap_or(Value::Null);
        let row = Row {
            a: cell("a"),
            b: cell("b"),
            c: cell("c"),
            ignored: json!("not a column"),
        };
        let mut out = Vec::new();
        RecordWriter::new(&["a", "b", "c"], &["c"])
            .push(&mut out, &row, options)
            .unwrap();
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
            "\"two\nlines\",,3.00\r\n"
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
    fn amounts_are_written_at_two_places() {
        let options = CsvOptions::default();
        assert_eq!(
            record(json!({"a": 1.5, "b": 497, "c": "497"}), options),
            "1.5,497,497.00\r\n"
        );
        assert_eq!(
            record(json!({"a": null, "b": null, "c": "-12.3"}), options),
            ",,-12.30\r\n"
        );
    }
}
