//! Reading the import's file into raw rows: the header, the columns and the
//! limits, before any row means anything.

use std::collections::HashMap;

use super::MAX_CSV_ROWS;
use crate::domain::IdentityError;

/// One CSV row, raw.
pub(super) struct CsvRow {
    pub(super) line: usize,
    pub(super) fields: HashMap<&'static str, String>,
}

pub(super) const COLUMNS: [&str; 9] = [
    "role",
    "last_name",
    "first_name",
    "middle_name",
    "birth_date",
    "snils",
    "email",
    "phone",
    "child_snils",
];

pub(super) fn parse_csv(bytes: &[u8]) -> Result<Vec<CsvRow>, IdentityError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| IdentityError::invalid("csv", "is not UTF-8 text"))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .map_err(|error| {
            IdentityError::invalid("csv", format!("cannot read the header row: {error}"))
        })?
        .iter()
        .map(|name| name.to_ascii_lowercase())
        .collect();
    let mut positions = HashMap::new();
    for column in COLUMNS {
        match header.iter().position(|name| name == column) {
            Some(position) => {
                positions.insert(column, position);
            }
            None if matches!(
                column,
                "middle_name" | "email" | "phone" | "child_snils" | "snils"
            ) => {}
            None => {
                return Err(IdentityError::invalid(
                    "csv",
                    format!("the header has no {column} column"),
                ));
            }
        }
    }
    let mut rows = Vec::new();
    for (index, record) in reader.records().enumerate() {
        let line = index + 2;
        let record = record
            .map_err(|error| IdentityError::invalid(format!("row {line}"), error.to_string()))?;
        if record.iter().all(str::is_empty) {
            continue;
        }
        if rows.len() == MAX_CSV_ROWS {
            return Err(IdentityError::invalid(
                "csv",
                format!("has more than {MAX_CSV_ROWS} rows: split the file"),
            ));
        }
        let fields = positions
            .iter()
            .map(|(column, position)| (*column, record.get(*position).unwrap_or("").to_owned()))
            .collect();
        rows.push(CsvRow { line, fields });
    }
    if rows.is_empty() {
        return Err(IdentityError::invalid("csv", "has no rows"));
    }
    Ok(rows)
}

pub(super) fn parse_birth_date(text: &str) -> Option<(i32, i32, i32)> {
    let parts: Vec<&str> = text.split(['-', '.']).collect();
    let numbers: Vec<i32> = parts
        .iter()
        .map(|part| part.parse().ok())
        .collect::<Option<_>>()?;
    match (numbers.as_slice(), parts.first().map(|part| part.len())) {
        ([year, month, day], Some(4)) => Some((*year, *month, *day)),
        ([day, month, year], Some(1 | 2)) => Some((*year, *month, *day)),
        _ => None,
    }
}
