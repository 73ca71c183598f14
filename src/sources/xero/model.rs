//! Xero's Accounting API data as herald uses it: invoices and connections, parsed from Xero's
//! wire format (`tests/fixtures/xero/`) into plain types.
//!
//! Two wire details need care. Money is a JSON number with fixed decimals (`2270.00`): it is
//! parsed from the number's text into a [`Decimal`] and never passes through `f64`. Dates come
//! twice: `DateString` (`2026-05-04T00:00:00`, the calendar date, preferred) and Microsoft JSON
//! `/Date(1777852800000+0000)/` (milliseconds since the epoch in UTC, then an optional
//! `±hhmm` offset; the fallback, read as the calendar date at that offset).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

/// `Type` of an invoice: a sales invoice (receivable) or a bill (payable).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum InvoiceKind {
    /// `ACCREC`: money owed to us.
    AccRec,
    /// `ACCPAY`: a bill we owe.
    AccPay,
    /// Anything else Xero may send, as sent.
    Other(String),
}

impl InvoiceKind {
    pub fn parse(wire: &str) -> InvoiceKind {
        match wire {
            "ACCREC" => InvoiceKind::AccRec,
            "ACCPAY" => InvoiceKind::AccPay,
            other => InvoiceKind::Other(other.to_owned()),
        }
    }

    /// As Xero writes it.
    pub fn as_str(&self) -> &str {
        match self {
            InvoiceKind::AccRec => "ACCREC",
            InvoiceKind::AccPay => "ACCPAY",
            InvoiceKind::Other(other) => other,
        }
    }
}

/// `Status` of an invoice.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum InvoiceStatus {
    Draft,
    Submitted,
    Authorised,
    Paid,
    Voided,
    Deleted,
    /// A status this version does not know, as sent.
    Unknown(String),
}

impl InvoiceStatus {
    pub fn parse(wire: &str) -> InvoiceStatus {
        match wire {
            "DRAFT" => InvoiceStatus::Draft,
            "SUBMITTED" => InvoiceStatus::Submitted,
            "AUTHORISED" => InvoiceStatus::Authorised,
            "PAID" => InvoiceStatus::Paid,
            "VOIDED" => InvoiceStatus::Voided,
            "DELETED" => InvoiceStatus::Deleted,
            other => InvoiceStatus::Unknown(other.to_owned()),
        }
    }

    /// As Xero writes it.
    pub fn as_str(&self) -> &str {
        match self {
            InvoiceStatus::Draft => "DRAFT",
            InvoiceStatus::Submitted => "SUBMITTED",
            InvoiceStatus::Authorised => "AUTHORISED",
            InvoiceStatus::Paid => "PAID",
            InvoiceStatus::Voided => "VOIDED",
            InvoiceStatus::Deleted => "DELETED",
            InvoiceStatus::Unknown(other) => other,
        }
    }
}

impl fmt::Display for InvoiceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for InvoiceStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for InvoiceKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl Serialize for InvoiceStatus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// One invoice (or bill). Money is exact; serialized (for templates or storage) as strings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Invoice {
    /// `InvoiceID` (a GUID).
    pub invoice_id: String,
    /// `InvoiceNumber` (`INV-0042`); empty when Xero has none (bills often have none).
    pub number: String,
    pub kind: InvoiceKind,
    pub status: InvoiceStatus,
    /// `Contact.ContactID`; empty when absent.
    pub contact_id: String,
    /// `Contact.Name`; empty when absent.
    pub contact_name: String,
    /// The invoice date (calendar date, no zone).
    pub date: NaiveDate,
    pub due_date: Option<NaiveDate>,
    /// ISO 4217 (`SGD`).
    pub currency_code: String,
    pub sub_total: Decimal,
    pub total_tax: Decimal,
    pub total: Decimal,
    pub amount_due: Decimal,
    pub amount_paid: Decimal,
    pub amount_credited: Decimal,
    /// `Reference`; empty when absent.
    pub reference: String,
    pub line_items: Vec<LineItem>,
    /// `UpdatedDateUTC`.
    pub updated: DateTime<Utc>,
}

/// One line of an invoice.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LineItem {
    /// `LineItemID`; empty when absent.
    pub line_item_id: String,
    pub description: String,
    pub quantity: Decimal,
    pub unit_amount: Decimal,
    pub line_amount: Decimal,
    pub tax_amount: Decimal,
    pub tax_type: String,
    pub account_code: String,
}

/// One organisation (tenant) the token may read (`GET /connections`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Connection {
    /// The connection's own id.
    pub id: String,
    pub tenant_id: String,
    pub tenant_type: String,
    pub tenant_name: String,
}

/// `pagination` of a paged answer (present when `page` was asked for).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Pagination {
    pub page: u32,
    pub page_size: u32,
    pub page_count: u32,
    pub item_count: u32,
}

/// One page of `GET Invoices` (or the answer of `GET Invoices/{id}` and `POST Invoices`).
#[derive(Debug, Clone, PartialEq)]
pub struct InvoicePage {
    pub invoices: Vec<Invoice>,
    pub pagination: Option<Pagination>,
}

/// Parses an `Invoices` envelope. The reason names the invoice and field on failure.
pub fn parse_invoices(body: &[u8]) -> Result<InvoicePage, String> {
    let envelope: InvoicesEnvelope =
        serde_json::from_slice(body).map_err(|e| format!("not an Invoices answer: {e}"))?;
    let invoices = envelope
        .invoices
        .into_iter()
        .map(WireInvoice::into_invoice)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(InvoicePage {
        invoices,
        pagination: envelope.pagination,
    })
}

/// Parses the answer of `GET /connections` (a bare array).
pub fn parse_connections(body: &[u8]) -> Result<Vec<Connection>, String> {
    serde_json::from_slice(body).map_err(|e| format!("not a connections list: {e}"))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct InvoicesEnvelope {
    #[serde(default)]
    invoices: Vec<WireInvoice>,
    #[serde(default, rename = "pagination")]
    pagination: Option<Pagination>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct WireContact {
    #[serde(default, rename = "ContactID")]
    contact_id: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct WireLineItem {
    #[serde(default, rename = "LineItemID")]
    line_item_id: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default, deserialize_with = "money")]
    quantity: Decimal,
    #[serde(default, deserialize_with = "money")]
    unit_amount: Decimal,
    #[serde(default, deserialize_with = "money")]
    line_amount: Decimal,
    #[serde(default, deserialize_with = "money")]
    tax_amount: Decimal,
    #[serde(default)]
    tax_type: Option<String>,
    #[serde(default)]
    account_code: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct WireInvoice {
    #[serde(rename = "Type")]
    kind: String,
    #[serde(rename = "InvoiceID")]
    invoice_id: String,
    #[serde(default)]
    invoice_number: Option<String>,
    #[serde(default)]
    reference: Option<String>,
    #[serde(default)]
    contact: Option<WireContact>,
    #[serde(default)]
    date_string: Option<String>,
    #[serde(default)]
    date: Option<String>,
    #[serde(default)]
    due_date_string: Option<String>,
    #[serde(default)]
    due_date: Option<String>,
    status: String,
    #[serde(default)]
    line_items: Vec<WireLineItem>,
    #[serde(default, deserialize_with = "money")]
    sub_total: Decimal,
    #[serde(default, deserialize_with = "money")]
    total_tax: Decimal,
    #[serde(deserialize_with = "money")]
    total: Decimal,
    #[serde(deserialize_with = "money")]
    amount_due: Decimal,
    #[serde(default, deserialize_with = "money")]
    amount_paid: Decimal,
    #[serde(default, deserialize_with = "money")]
    amount_credited: Decimal,
    #[serde(default, rename = "UpdatedDateUTC")]
    updated_date_utc: Option<String>,
    #[serde(default)]
    currency_code: Option<String>,
}

impl WireInvoice {
    fn into_invoice(self) -> Result<Invoice, String> {
        let id = self.invoice_id;
        let field = |name: &str, why: String| format!("invoice {id}: {name}: {why}");
        let date = calendar_date(self.date_string.as_deref(), self.date.as_deref())
            .map_err(|why| field("Date", why))?
            .ok_or_else(|| field("Date", "missing".into()))?;
        let due_date = calendar_date(self.due_date_string.as_deref(), self.due_date.as_deref())
            .map_err(|why| field("DueDate", why))?;
        let updated = match self.updated_date_utc.as_deref() {
            Some(text) => {
                parse_ms_date(text)
                    .ok_or_else(|| {
                        field("UpdatedDateUTC", format!("`{text}` is not a /Date(...)/"))
                    })?
                    .0
            }
            None => return Err(field("UpdatedDateUTC", "missing".into())),
        };
        let (contact_id, contact_name) = match self.contact {
            Some(c) => (c.contact_id.unwrap_or_default(), c.name.unwrap_or_default()),
            None => (String::new(), String::new()),
        };
        Ok(Invoice {
            number: self.invoice_number.unwrap_or_default(),
            kind: InvoiceKind::parse(&self.kind),
            status: InvoiceStatus::parse(&self.status),
            contact_id,
            contact_name,
            date,
            due_date,
            currency_code: self.currency_code.unwrap_or_default(),
            sub_total: self.sub_total,
            total_tax: self.total_tax,
            total: self.total,
            amount_due: self.amount_due,
            amount_paid: self.amount_paid,
            amount_credited: self.amount_credited,
            reference: self.reference.unwrap_or_default(),
            line_items: self
                .line_items
                .into_iter()
                .map(|l| LineItem {
                    line_item_id: l.line_item_id.unwrap_or_default(),
                    description: l.description.unwrap_or_default(),
                    quantity: l.quantity,
                    unit_amount: l.unit_amount,
                    line_amount: l.line_amount,
                    tax_amount: l.tax_amount,
                    tax_type: l.tax_type.unwrap_or_default(),
                    account_code: l.account_code.unwrap_or_default(),
                })
                .collect(),
            updated,
            invoice_id: id,
        })
    }
}

/// Deserializes a money amount from the JSON number's own text (or a string holding one),
/// exactly: `2270.00` keeps its two decimals, `0.1` is one tenth.
fn money<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Decimal, D::Error> {
    let raw: Box<RawValue> = Deserialize::deserialize(deserializer)?;
    parse_money(raw.get()).map_err(serde::de::Error::custom)
}

/// A decimal from JSON text: a number (`4360.10`, `1e3`) or a string holding one.
pub fn parse_money(json: &str) -> Result<Decimal, String> {
    let json = json.trim();
    let text = if json.starts_with('"') {
        serde_json::from_str::<String>(json)
            .map_err(|_| format!("{json} is not a decimal amount"))?
    } else {
        json.to_owned()
    };
    Decimal::from_str_exact(&text)
        .or_else(|_| Decimal::from_scientific(&text))
        .map_err(|_| format!("{json} is not a decimal amount"))
}

/// The calendar date of a `DateString`/`Date` pair: the string when present, else the
/// `/Date(...)/` value read at its own offset. `Ok(None)` when both are absent.
pub fn calendar_date(
    date_string: Option<&str>,
    ms_date: Option<&str>,
) -> Result<Option<NaiveDate>, String> {
    if let Some(text) = date_string.filter(|t| !t.is_empty()) {
        let day = text.get(..10).unwrap_or(text);
        return NaiveDate::from_str(day)
            .map(Some)
            .map_err(|_| format!("`{text}` is not a date like 2026-05-04T00:00:00"));
    }
    match ms_date.filter(|t| !t.is_empty()) {
        Some(text) => parse_ms_date(text)
            .map(|(instant, offset)| Some(instant.with_timezone(&offset).date_naive()))
            .ok_or_else(|| format!("`{text}` is not a date like /Date(1777852800000+0000)/")),
        None => Ok(None),
    }
}

/// Parses Microsoft JSON dates: `/Date(1777852800000+0000)/`, `/Date(1785810000123)/`,
/// `/Date(-86400000-0500)/`. The milliseconds count from the epoch in UTC; the offset (UTC when
/// absent) says where the value was written. `\/` escapes are already gone after JSON parsing.
pub fn parse_ms_date(text: &str) -> Option<(DateTime<Utc>, FixedOffset)> {
    let inner = text.trim().strip_prefix("/Date(")?.strip_suffix(")/")?;
    // An offset sign after the first character (the first may be the sign of the number).
    let split = inner
        .get(1..)?
        .find(['+', '-'])
        .map(|i| i + 1)
        .unwrap_or(inner.len());
    let (ms, offset) = inner.split_at(split);
    let ms: i64 = ms.parse().ok()?;
    let offset = if offset.is_empty() {
        FixedOffset::east_opt(0)?
    } else {
        let (sign, digits) = offset.split_at(1);
        if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let hours: i32 = digits[..2].parse().ok()?;
        let minutes: i32 = digits[2..].parse().ok()?;
        let seconds = hours * 3600 + minutes * 60;
        FixedOffset::east_opt(if sign == "-" { -seconds } else { seconds })?
    };
    Some((DateTime::from_timestamp_millis(ms)?, offset))
}

/// What a Xero error body says, for error messages: the validation messages of a 400, else
/// `Detail`, `Message` or `Title`. Never more than one line.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct ErrorBody {
    message: Option<String>,
    detail: Option<String>,
    title: Option<String>,
    elements: Vec<ErrorElement>,
    /// OAuth2 errors (`{"error": "invalid_grant"}`).
    #[serde(rename = "error")]
    error: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct ErrorElement {
    validation_errors: Vec<ValidationError>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct ValidationError {
    message: Option<String>,
}

impl ErrorBody {
    /// `None` when the body is not a JSON object.
    pub(crate) fn parse(body: &[u8]) -> Option<ErrorBody> {
        serde_json::from_slice(body).ok()
    }

    /// Every `Elements[].ValidationErrors[].Message`.
    pub(crate) fn validation_messages(&self) -> Vec<String> {
        self.elements
            .iter()
            .flat_map(|e| e.validation_errors.iter())
            .filter_map(|v| v.message.as_deref())
            .map(one_line)
            .collect()
    }

    /// The most specific human text: `Detail`, `Message`, then `Title`.
    pub(crate) fn summary(&self) -> Option<String> {
        [&self.detail, &self.message, &self.title]
            .into_iter()
            .flatten()
            .find(|t| !t.trim().is_empty())
            .map(|t| one_line(t))
    }

    /// The OAuth2 `error` code.
    pub(crate) fn oauth_error(&self) -> Option<&str> {
        self.error.as_deref()
    }
}

pub(crate) use crate::sources::one_line;

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    macro_rules! fixture {
        ($name:literal) => {
            include_str!(concat!("../../../tests/fixtures/xero/", $name))
        };
    }

    fn dec(text: &str) -> Decimal {
        Decimal::from_str_exact(text).expect("decimal")
    }

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("date")
    }

    #[test]
    fn page1_fixture_parses_every_invoice() {
        let page = parse_invoices(fixture!("xero_invoices_page1.json").as_bytes()).expect("parses");
        assert_eq!(
            page.pagination,
            Some(Pagination {
                page: 1,
                page_size: 100,
                page_count: 1,
                item_count: 3
            })
        );
        let [a, b, c] = page.invoices.as_slice() else {
            panic!("three invoices: {:?}", page.invoices);
        };
        assert_eq!(a.invoice_id, "1d2f3a4b-5c6d-4e7f-8a9b-0c1d2e3f4a5b");
        assert_eq!(a.number, "INV-0042");
        assert_eq!(a.kind, InvoiceKind::AccRec);
        assert_eq!(a.status, InvoiceStatus::Authorised);
        assert_eq!(a.contact_name, "Tan & Sons Trading Pte Ltd");
        assert_eq!(a.contact_id, "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d");
        assert_eq!(a.date, day(2026, 5, 4));
        assert_eq!(a.due_date, Some(day(2026, 6, 3)));
        assert_eq!(a.currency_code, "SGD");
        assert_eq!(a.total, dec("3270.00"));
        assert_eq!(a.amount_due, dec("2270.00"));
        assert_eq!(a.amount_due.to_string(), "2270.00", "scale kept");
        assert_eq!(a.amount_paid, dec("1000.00"));
        assert_eq!(a.sub_total, dec("3000.00"));
        assert_eq!(a.total_tax, dec("270.00"));
        assert_eq!(a.reference, "PO-7781");
        assert_eq!(
            a.updated,
            Utc.timestamp_millis_opt(1781943292317)
                .single()
                .expect("instant")
        );
        assert_eq!(a.line_items.len(), 1);
        assert_eq!(a.line_items[0].description, "Retainer - May 2026");
        assert_eq!(a.line_items[0].quantity, dec("1.0000"));
        assert_eq!(a.line_items[0].line_amount, dec("3000.00"));
        assert_eq!(a.line_items[0].account_code, "200");

        assert_eq!(b.number, "INV-0051");
        assert_eq!(b.contact_name, "Lumen Analytics Pte. Ltd.");
        assert_eq!(b.amount_due, dec("2016.50"));
        assert_eq!(b.total_tax, dec("166.50"));
        assert_eq!(b.due_date, Some(day(2026, 7, 15)));
        assert!(b.line_items.is_empty());

        assert_eq!(c.number, "INV-0057");
        assert_eq!(c.reference, "");
        assert_eq!(c.currency_code, "USD");
        assert_eq!(c.amount_due, dec("5200.00"));
        assert_eq!(c.date, day(2026, 7, 1));
        assert_eq!(c.due_date, Some(day(2026, 7, 31)));
    }

    #[test]
    fn empty_page_fixture() {
        let page =
            parse_invoices(fixture!("xero_invoices_page2_empty.json").as_bytes()).expect("parses");
        assert!(page.invoices.is_empty());
        assert_eq!(
            page.pagination.map(|p| (p.page, p.page_count)),
            Some((2, 1))
        );
    }

    #[test]
    fn draft_and_authorised_fixtures() {
        for (name, body, status, updated) in [
            (
                "draft",
                fixture!("xero_invoice_draft_get.json"),
                InvoiceStatus::Draft,
                1785809403551,
            ),
            (
                "authorised",
                fixture!("xero_invoice_authorise_response.json"),
                InvoiceStatus::Authorised,
                1785809765902,
            ),
        ] {
            let page = parse_invoices(body.as_bytes()).expect(name);
            assert_eq!(page.pagination, None, "{name}");
            let [invoice] = page.invoices.as_slice() else {
                panic!("{name}: one invoice");
            };
            assert_eq!(invoice.invoice_id, "5f1c2b9e-8d7a-4e6f-b5c4-3a2b1c0d9e8f");
            assert_eq!(invoice.number, "INV-0060");
            assert_eq!(invoice.status, status, "{name}");
            assert_eq!(invoice.total, dec("4360.00"));
            assert_eq!(invoice.amount_due, dec("4360.00"));
            assert_eq!(invoice.date, day(2026, 7, 31));
            assert_eq!(invoice.due_date, Some(day(2026, 8, 14)));
            assert_eq!(invoice.line_items[0].tax_amount, dec("360.00"));
            assert_eq!(invoice.updated.timestamp_millis(), updated);
        }
    }

    #[test]
    fn connections_fixture() {
        let connections =
            parse_connections(fixture!("xero_connections.json").as_bytes()).expect("parses");
        assert_eq!(
            connections,
            vec![Connection {
                id: "e1eede29-f875-4a5d-8470-17f6a29a88b1".into(),
                tenant_id: "70784a63-d24b-46a9-a4db-0e70a274b056".into(),
                tenant_type: "ORGANISATION".into(),
                tenant_name: "Acme Pte Ltd".into(),
            }]
        );
    }

    #[test]
    fn money_is_exact() {
        #[derive(Deserialize)]
        struct M {
            #[serde(deserialize_with = "money")]
            a: Decimal,
            #[serde(deserialize_with = "money")]
            b: Decimal,
        }
        let m: M = serde_json::from_str(r#"{"a": 0.1, "b": 0.2}"#).expect("parses");
        assert_eq!(m.a + m.b, dec("0.3"));
        let m: M =
            serde_json::from_str(r#"{"a": 4360.10, "b": 12345678901234567.89}"#).expect("parses");
        assert_eq!(m.a, Decimal::new(436010, 2));
        assert_eq!(m.a.to_string(), "4360.10");
        // Beyond f64's 15-17 significant digits, still exact.
        assert_eq!(m.b.to_string(), "12345678901234567.89");
        let m: M = serde_json::from_str(r#"{"a": "2270.00", "b": 1e3}"#).expect("parses");
        assert_eq!(m.a.to_string(), "2270.00");
        assert_eq!(m.b, dec("1000"));
        assert!(serde_json::from_str::<M>(r#"{"a": null, "b": 1}"#).is_err());
        assert!(serde_json::from_str::<M>(r#"{"a": "x", "b": 1}"#).is_err());
    }

    #[test]
    fn dates_prefer_the_date_string_and_fall_back_to_ms_dates() {
        assert_eq!(
            calendar_date(Some("2026-05-04T00:00:00"), Some("/Date(0+0000)/")),
            Ok(Some(day(2026, 5, 4)))
        );
        assert_eq!(
            calendar_date(Some("2026-05-04"), None),
            Ok(Some(day(2026, 5, 4)))
        );
        assert_eq!(
            calendar_date(None, Some("/Date(1777852800000+0000)/")),
            Ok(Some(day(2026, 5, 4)))
        );
        assert_eq!(
            calendar_date(Some(""), Some("/Date(1777852800000)/")),
            Ok(Some(day(2026, 5, 4)))
        );
        // 2026-05-03T12:00Z written at +1300 is already the 4th there; at -0500 still the 3rd.
        assert_eq!(
            calendar_date(None, Some("/Date(1777809600000+1300)/")),
            Ok(Some(day(2026, 5, 4)))
        );
        assert_eq!(
            calendar_date(None, Some("/Date(1777809600000-0500)/")),
            Ok(Some(day(2026, 5, 3)))
        );
        assert_eq!(calendar_date(None, None), Ok(None));
        assert!(calendar_date(Some("04/05/2026"), None).is_err());
        assert!(calendar_date(None, Some("/Date(abc)/")).is_err());
        assert!(calendar_date(None, Some("2026-05-04")).is_err());

        let (at, offset) = parse_ms_date("/Date(-86400000-0500)/").expect("negative");
        assert_eq!(at, Utc.with_ymd_and_hms(1969, 12, 31, 0, 0, 0).unwrap());
        assert_eq!(offset.local_minus_utc(), -5 * 3600);
        let (at, offset) = parse_ms_date("/Date(1785810000123)/").expect("no offset");
        assert_eq!(at.timestamp_millis(), 1785810000123);
        assert_eq!(offset.local_minus_utc(), 0);
        assert!(parse_ms_date("/Date(1+13)/").is_none());
        assert!(parse_ms_date("/Date()/").is_none());
    }

    #[test]
    fn a_bad_invoice_names_itself_and_the_field() {
        let body = r#"{"Invoices":[{"Type":"ACCREC","InvoiceID":"x-1","Status":"DRAFT",
            "Total":1,"AmountDue":1,"DateString":"soon","UpdatedDateUTC":"/Date(0)/"}]}"#;
        let err = parse_invoices(body.as_bytes()).expect_err("bad date");
        assert!(err.starts_with("invoice x-1: Date: "), "{err}");
        let body = r#"{"Invoices":[{"Type":"ACCREC","InvoiceID":"x-2","Status":"DRAFT",
            "Total":1,"AmountDue":1,"DateString":"2026-01-01"}]}"#;
        let err = parse_invoices(body.as_bytes()).expect_err("no updated");
        assert_eq!(err, "invoice x-2: UpdatedDateUTC: missing");
        // Unknown kinds and statuses are kept as sent.
        let body = r#"{"Invoices":[{"Type":"ACCRECCREDIT","InvoiceID":"x-3","Status":"ARCHIVED",
            "Total":1,"AmountDue":1,"DateString":"2026-01-01","UpdatedDateUTC":"/Date(0)/"}]}"#;
        let page = parse_invoices(body.as_bytes()).expect("parses");
        assert_eq!(
            page.invoices[0].kind,
            InvoiceKind::Other("ACCRECCREDIT".into())
        );
        assert_eq!(
            page.invoices[0].status,
            InvoiceStatus::Unknown("ARCHIVED".into())
        );
        assert_eq!(page.invoices[0].status.as_str(), "ARCHIVED");
    }

    #[test]
    fn error_bodies() {
        let validation =
            ErrorBody::parse(fixture!("xero_error_400_validation.json").as_bytes()).expect("json");
        assert_eq!(
            validation.validation_messages(),
            vec!["Invoice not of valid status for modification".to_owned()]
        );
        let server = ErrorBody::parse(fixture!("xero_error_500.json").as_bytes()).expect("json");
        assert!(server
            .summary()
            .expect("detail")
            .starts_with("An error occurred in Xero."));
        let expired = ErrorBody::parse(fixture!("xero_error_401_token_expired.json").as_bytes())
            .expect("json");
        assert!(expired
            .summary()
            .expect("detail")
            .starts_with("TokenExpired:"));
        let grant = ErrorBody::parse(fixture!("xero_token_error_invalid_grant.json").as_bytes())
            .expect("json");
        assert_eq!(grant.oauth_error(), Some("invalid_grant"));
        assert!(ErrorBody::parse(b"<html></html>").is_none());
        assert_eq!(one_line("a\n  b"), "a b");
        assert_eq!(one_line(&"x".repeat(400)).chars().count(), 300);
    }
}
