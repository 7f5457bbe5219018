//! Plain-text tables: columns padded to their widest cell.

/// A table with a header row.
pub(crate) struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    pub(crate) fn new<I, S>(header: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            rows: vec![header.into_iter().map(Into::into).collect()],
        }
    }

    pub(crate) fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// How many rows besides the header.
    pub(crate) fn len(&self) -> usize {
        self.rows.len() - 1
    }

    /// The lines, columns separated by two spaces, the last one not padded.
    pub(crate) fn lines(&self) -> Vec<String> {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let widths: Vec<usize> = (0..columns)
            .map(|c| {
                self.rows
                    .iter()
                    .filter_map(|r| r.get(c))
                    .map(|cell| cell.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        self.rows
            .iter()
            .map(|row| {
                let mut line = String::new();
                for (c, cell) in row.iter().enumerate() {
                    if c > 0 {
                        line.push_str("  ");
                    }
                    line.push_str(cell);
                    if c + 1 < row.len() {
                        let pad = widths[c].saturating_sub(cell.chars().count());
                        line.extend(std::iter::repeat_n(' ', pad));
                    }
                }
                line
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up() {
        let mut t = Table::new(["A", "LONGER"]);
        t.row(vec!["wide cell".into(), "x".into()]);
        assert_eq!(t.lines(), ["A          LONGER", "wide cell  x"]);
        assert_eq!(t.len(), 1);
    }
}
