//! Export scopes: which stories an export may hold, decided by what their storytellers
//! agreed to. Spelled once here so that the server's CSV export and the lead's exports
//! from a pulled folder cannot disagree about who said yes to what.

use serde::{Deserialize, Serialize};

use crate::{ConsentStatus, ConsentSummary, items};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExportScope {
    /// Everything the project holds with `record` consent (the project's own use).
    All,
    /// Stories whose storytellers granted `research_use`.
    Research,
    /// Stories whose storytellers granted `share_publicly`.
    Public,
}

impl ExportScope {
    /// The consent item this scope needs, besides `record`.
    pub fn item(self) -> &'static str {
        match self {
            ExportScope::All => items::RECORD,
            ExportScope::Research => items::RESEARCH_USE,
            ExportScope::Public => items::SHARE_PUBLICLY,
        }
    }

    /// Whether a story with this consent may be in an export of this scope: active
    /// consent (never a withdrawn story) with `record` and the scope's item granted.
    pub fn admits(self, consent: &ConsentSummary) -> bool {
        consent.status == ConsentStatus::Active
            && consent.grants(items::RECORD)
            && consent.grants(self.item())
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ExportScope::All => "all",
            ExportScope::Research => "research",
            ExportScope::Public => "public",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "all" => Some(ExportScope::All),
            "research" => Some(ExportScope::Research),
            "public" => Some(ExportScope::Public),
            _ => None,
        }
    }
}

/// A CSV field as every Tellus export writes it: quoted, quotes doubled, and a leading
/// = + - @ (also after spaces, TAB or CR) and a leading TAB or CR defused so a
/// spreadsheet does not run it as a formula. One function, so the
/// server's CSV and a pulled folder's CSV cannot differ.
pub fn csv_field(text: &str) -> String {
    // OWASP's list: a formula sign first, or a TAB or CR, which some spreadsheets skip
    // (with spaces) before they look for one.
    let formula = text
        .trim_start_matches([' ', '\t', '\r', '\n'])
        .starts_with(['=', '+', '-', '@']);
    let defused = if formula || text.starts_with(['\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_string()
    };
    format!("\"{}\"", defused.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn consent(status: ConsentStatus, granted: &[&str]) -> ConsentSummary {
        ConsentSummary {
            status,
            granted: granted.iter().map(|s| s.to_string()).collect(),
            ..ConsentSummary::default()
        }
    }

    #[test]
    fn each_scope_needs_its_item_record_and_active_consent() {
        let public = consent(ConsentStatus::Active, &["record", "share_publicly"]);
        let research = consent(ConsentStatus::Active, &["record", "research_use"]);
        let record_only = consent(ConsentStatus::Active, &["record"]);
        let no_record = consent(ConsentStatus::Active, &["share_publicly", "research_use"]);
        let withdrawn = consent(ConsentStatus::Withdrawn, &["record", "share_publicly"]);
        let none = ConsentSummary::default();
        assert!(ExportScope::Public.admits(&public));
        assert!(!ExportScope::Public.admits(&research));
        assert!(!ExportScope::Public.admits(&record_only));
        assert!(ExportScope::Research.admits(&research));
        assert!(!ExportScope::Research.admits(&public));
        for c in [&public, &research, &record_only] {
            assert!(ExportScope::All.admits(c));
        }
        for scope in [ExportScope::All, ExportScope::Research, ExportScope::Public] {
            assert!(!scope.admits(&no_record), "{scope:?} without record");
            assert!(!scope.admits(&withdrawn), "{scope:?} withdrawn");
            assert!(!scope.admits(&none), "{scope:?} without consent");
            assert_eq!(ExportScope::parse(scope.as_str()), Some(scope));
        }
        assert_eq!(ExportScope::parse("everything"), None);
    }

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        assert_eq!(csv_field("plain"), "\"plain\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_field("@SUM(A1)"), "\"'@SUM(A1)\"");
        assert_eq!(csv_field("a,b\nc"), "\"a,b\nc\"");
    }

    #[test]
    fn a_formula_behind_a_tab_carriage_return_or_spaces_is_defused_too() {
        for text in [
            "\t=1+2",
            "\r=1+2",
            "  =cmd|' /C calc'!A0",
            "\t",
            "\r\n@x",
            " -2+3",
        ] {
            let field = csv_field(text);
            assert!(field.starts_with("\"'"), "{text:?} gave {field:?}");
        }
        assert_eq!(csv_field(" plain"), "\" plain\"");
        assert_eq!(csv_field(""), "\"\"");
    }
}
