//! `/claims export [YYYY-MM]`: the month's approved claims as CSV (RFC 4180: comma-separated,
//! CRLF line ends, a field with a comma, quote or line break quoted and its quotes doubled),
//! one row per claim, ready for a bank's or Xero's expense import. Amounts are plain decimals
//! (`1234.50`, no grouping). A text field that a spreadsheet would run as a formula (starting
//! with `=`, `+`, `-`, `@`, a tab or a carriage return) gets a leading `'`, so a member's
//! reason can never execute in the approver's spreadsheet.

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};

use crate::store::claims::ApprovedClaim;

/// The header row's fields.
pub const HEADER: [&str; 8] = [
    "claim", "date", "member", "amount", "currency", "reason", "approver", "receipt",
];

/// A calendar month of the team's timezone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Month {
    pub year: i32,
    pub month: u32,
}

impl Month {
    /// The month `at` falls in, in `tz`.
    pub fn of(at: DateTime<Utc>, tz: chrono_tz::Tz) -> Self {
        let local = at.with_timezone(&tz);
        Self {
            year: local.year(),
            month: local.month(),
        }
    }

    /// `2026-11` (also `2026-1`); `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        let (year, month) = text.trim().split_once('-')?;
        let year: i32 = year.parse().ok().filter(|y| (2000..=9999).contains(y))?;
        let month: u32 = month.parse().ok().filter(|m| (1..=12).contains(m))?;
        Some(Self { year, month })
    }

    /// Its first instant and the next month's, in `tz`, as UTC.
    pub fn bounds(self, tz: chrono_tz::Tz) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let first = NaiveDate::from_ymd_opt(self.year, self.month, 1)?;
        let next = if self.month == 12 {
            NaiveDate::from_ymd_opt(self.year + 1, 1, 1)?
        } else {
            NaiveDate::from_ymd_opt(self.year, self.month + 1, 1)?
        };
        let start = |d: NaiveDate| {
            tz.from_local_datetime(&d.and_hms_opt(0, 0, 0)?)
                .earliest()
                .map(|t| t.with_timezone(&Utc))
        };
        Some((start(first)?, start(next)?))
    }

    /// `2026-11`.
    pub fn label(self) -> String {
        format!("{:04}-{:02}", self.year, self.month)
    }
}

/// The CSV of `claims`, with its header.
pub fn csv(claims: &[ApprovedClaim], tz: chrono_tz::Tz) -> String {
    let mut out = String::new();
    push_row(&mut out, HEADER.iter().map(|h| (*h).to_owned()));
    for approved in claims {
        let claim = &approved.claim;
        let date = claim
            .submitted_at()
            .map(|at| at.with_timezone(&tz).date_naive().to_string())
            .unwrap_or_default();
        push_row(
            &mut out,
            [
                claim.number(),
                date,
                defused(&claim.member),
                claim.amount.clone(),
                claim.currency.clone(),
                defused(&claim.reason),
                defused(&approved.approvers),
                receipt_link(claim),
            ],
        );
    }
    out
}

/// Where the receipt can be opened: the group message that carried it
/// (`https://t.me/c/<chat>/<message>`, for members of the group); a receipt sent by DM has
/// no link anyone else can open, so its Telegram `file_id` is given (`file_id:<id>`); empty
/// without a receipt.
pub fn receipt_link(claim: &crate::store::claims::Claim) -> String {
    let (Some(file_id), Some(chat_id), Some(message_id)) = (
        claim.receipt_file_id.as_deref(),
        claim.receipt_chat_id,
        claim.receipt_message_id,
    ) else {
        return String::new();
    };
    match chat_id.to_string().strip_prefix("-100") {
        Some(internal) => format!("https://t.me/c/{internal}/{message_id}"),
        None => format!("file_id:{file_id}"),
    }
}

/// A text field a spreadsheet would not run as a formula.
fn defused(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    }
}

fn push_row(out: &mut String, fields: impl IntoIterator<Item = String>) {
    let mut first = true;
    for field in fields {
        if !first {
            out.push(',');
        }
        first = false;
        if field.contains([',', '"', '\r', '\n']) {
            out.push('"');
            out.push_str(&field.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(&field);
        }
    }
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::claims::{Claim, ClaimState};

    fn claim(id: i64, member: &str, amount: &str, reason: &str) -> Claim {
        Claim {
            id,
            member: member.into(),
            user_id: 1,
            amount: amount.into(),
            currency: "SGD".into(),
            reason: reason.into(),
            approvals_needed: 1,
            state: ClaimState::Approved,
            chat_id: -1002233445566,
            thread_id: Some(35),
            message_id: 100 + id,
            ack_outbox_id: Some(1),
            card_outbox_id: Some(2),
            card_chat_id: -1002233445566,
            card_thread_id: Some(35),
            receipt_kind: None,
            receipt_file_id: None,
            receipt_chat_id: None,
            receipt_message_id: None,
            // 23:30 UTC on the 30th is the 1st in Singapore.
            submitted_at: "2026-11-30T23:30:00Z".into(),
            decided_at: Some("2026-12-01T02:00:00Z".into()),
        }
    }

    /// The golden file: quoting per RFC 4180 (`&`, commas, quotes, line breaks), CRLF line
    /// ends, plain decimal amounts, formulas defused, the team's local date.
    #[test]
    fn the_csv_matches_its_golden_file() {
        let mut with_photo = claim(1, "Siti Rahman", "45.20", "taxi to client meeting");
        with_photo.receipt_kind = Some("photo".into());
        with_photo.receipt_file_id = Some("AgACAgUAAxkBAAIBZ2".into());
        with_photo.receipt_chat_id = Some(-1002233445566);
        with_photo.receipt_message_id = Some(5012);
        let mut by_dm = claim(
            2,
            "Priya Raman",
            "1234.50",
            "Hotel, 2 nights \"Marina\" & breakfast",
        );
        by_dm.receipt_kind = Some("document".into());
        by_dm.receipt_file_id = Some("BQACAgUAAxkBAAIBaF".into());
        by_dm.receipt_chat_id = Some(6023847561);
        by_dm.receipt_message_id = Some(77);
        let claims = vec![
            ApprovedClaim {
                claim: with_photo,
                approvers: "Priya Raman".into(),
            },
            ApprovedClaim {
                claim: by_dm,
                approvers: "Wei Ming Tan + Daniel Koh".into(),
            },
            ApprovedClaim {
                claim: claim(
                    3,
                    "Daniel Koh",
                    "12",
                    "=HYPERLINK(\"http://x\")\nsecond line",
                ),
                approvers: "Wei Ming Tan".into(),
            },
        ];
        let tz: chrono_tz::Tz = "Asia/Singapore".parse().unwrap();
        let csv = csv(&claims, tz);
        let golden = include_str!("../../tests/fixtures/claims_export_golden.csv");
        assert_eq!(csv, golden, "\n{csv}");
    }

    #[test]
    fn months_parse_and_bound_in_the_team_timezone() {
        let tz: chrono_tz::Tz = "Asia/Singapore".parse().unwrap();
        let month = Month::parse("2026-12").unwrap();
        let (from, to) = month.bounds(tz).unwrap();
        assert_eq!(from.to_rfc3339(), "2026-11-30T16:00:00+00:00");
        assert_eq!(to.to_rfc3339(), "2026-12-31T16:00:00+00:00");
        assert_eq!(Month::parse("2026-1").unwrap().label(), "2026-01");
        for bad in [
            "2026",
            "2026-13",
            "2026-00",
            "26-11",
            "2026-11-01",
            "nov",
            "",
        ] {
            assert_eq!(Month::parse(bad), None, "{bad}");
        }
    }
}
