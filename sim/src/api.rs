//! Request parameters and error answers of the simulated Bot API.
//!
//! Exists so every handler reads parameters the same way Telegram does (JSON body, form body or
//! query string; numbers may arrive as strings, objects as JSON strings) and every failure
//! becomes a Telegram-shaped error envelope instead of a panic.

use serde_json::{Map, Value};

/// An error answer: `{"ok":false,"error_code":code,"description":...}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub code: u16,
    pub description: String,
    pub retry_after: Option<u32>,
    pub migrate_to_chat_id: Option<i64>,
}

impl ApiError {
    pub fn new(code: u16, description: impl Into<String>) -> Self {
        ApiError {
            code,
            description: description.into(),
            retry_after: None,
            migrate_to_chat_id: None,
        }
    }

    /// 400 `Bad Request: {what}`.
    pub fn bad(what: impl std::fmt::Display) -> Self {
        Self::new(400, format!("Bad Request: {what}"))
    }

    /// 403 `Forbidden: {what}`.
    pub fn forbidden(what: impl std::fmt::Display) -> Self {
        Self::new(403, format!("Forbidden: {what}"))
    }

    pub fn unauthorized() -> Self {
        Self::new(401, "Unauthorized")
    }

    pub fn not_found() -> Self {
        Self::new(404, "Not Found")
    }

    pub fn conflict() -> Self {
        Self::new(
            409,
            "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
        )
    }

    /// 429 with `retry_after` in `parameters` (and, on the wire, a `Retry-After` header).
    pub fn too_many(retry_after: u32) -> Self {
        let mut e = Self::new(429, format!("Too Many Requests: retry after {retry_after}"));
        e.retry_after = Some(retry_after);
        e
    }
}

/// The parameters of one request, merged from the query string and the body, and the files
/// a `multipart/form-data` body uploaded (by field name).
#[derive(Debug, Default, Clone)]
pub(crate) struct Params(Map<String, Value>, Vec<(String, Upload)>);

/// A file uploaded in a `multipart/form-data` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Upload {
    pub file_name: String,
    pub content: Vec<u8>,
}

impl Params {
    /// Query string first, then the body (JSON object or form), the body winning.
    pub fn parse(
        query: Option<&str>,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<Params, ApiError> {
        let mut map = Map::new();
        if let Some(q) = query {
            for (k, v) in url::form_urlencoded::parse(q.as_bytes()) {
                map.insert(k.into_owned(), Value::String(v.into_owned()));
            }
        }
        let ct = content_type.unwrap_or("").to_ascii_lowercase();
        let is_blank = body.iter().all(u8::is_ascii_whitespace);
        if is_blank {
            return Ok(Params(map, Vec::new()));
        }
        if ct.starts_with("multipart/form-data") {
            let boundary = content_type
                .unwrap_or("")
                .split(';')
                .find_map(|p| p.trim().strip_prefix("boundary="))
                .map(|b| b.trim_matches('"').to_owned())
                .ok_or_else(|| ApiError::bad("can't parse multipart request: no boundary"))?;
            let mut uploads = Vec::new();
            for part in multipart_parts(body, &boundary)? {
                match part.file_name {
                    Some(file_name) => uploads.push((
                        part.name,
                        Upload {
                            file_name,
                            content: part.content,
                        },
                    )),
                    None => {
                        let text = String::from_utf8(part.content)
                            .map_err(|_| ApiError::bad("can't parse multipart field as UTF-8"))?;
                        map.insert(part.name, Value::String(text));
                    }
                }
            }
            return Ok(Params(map, uploads));
        }
        if ct.starts_with("multipart/") {
            return Err(ApiError::bad("unsupported multipart request"));
        }
        let looks_json = ct.contains("json")
            || (!ct.contains("x-www-form-urlencoded")
                && body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{'));
        if looks_json {
            match serde_json::from_slice::<Value>(body) {
                Ok(Value::Object(obj)) => map.extend(obj),
                Ok(_) => return Err(ApiError::bad("request body must be a JSON object")),
                Err(_) => return Err(ApiError::bad("can't parse JSON request body")),
            }
        } else {
            for (k, v) in url::form_urlencoded::parse(body) {
                map.insert(k.into_owned(), Value::String(v.into_owned()));
            }
        }
        Ok(Params(map, Vec::new()))
    }

    /// Builds parameters from a JSON object (tests and internal use).
    #[cfg(test)]
    pub fn from_json(v: Value) -> Params {
        match v {
            Value::Object(m) => Params(m, Vec::new()),
            _ => Params::default(),
        }
    }

    /// The file uploaded as field `key`, if one was.
    pub fn upload(&self, key: &str) -> Option<&Upload> {
        self.1.iter().find(|(name, _)| name == key).map(|(_, u)| u)
    }

    /// The raw value; JSON `null` counts as absent.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key).filter(|v| !v.is_null())
    }

    /// An integer given as a number or a numeric string. `Err(())` if present but not one.
    pub fn int(&self, key: &str) -> Result<Option<i64>, ()> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => value_int(v).map(Some).ok_or(()),
        }
    }

    /// A string; numbers and booleans are given as their JSON text.
    pub fn string(&self, key: &str) -> Option<String> {
        match self.get(key)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    /// A boolean given as `true`/`false` or their string forms.
    pub fn boolean(&self, key: &str) -> Option<bool> {
        value_bool(self.get(key)?)
    }

    /// An object or array, given inline (JSON body) or as a JSON string (form or query).
    /// `Err(())` if present but not parseable.
    pub fn json(&self, key: &str) -> Result<Option<Value>, ()> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => serde_json::from_str(s).map(Some).map_err(|_| ()),
            Some(v) => Ok(Some(v.clone())),
        }
    }
}

/// One part of a `multipart/form-data` body.
struct Part {
    name: String,
    file_name: Option<String>,
    content: Vec<u8>,
}

/// The parts of `body` between `--boundary` lines (RFC 7578), each with its
/// `Content-Disposition` name and file name.
fn multipart_parts(body: &[u8], boundary: &str) -> Result<Vec<Part>, ApiError> {
    let malformed = || ApiError::bad("can't parse multipart request");
    let delimiter = format!("--{boundary}").into_bytes();
    let find = |hay: &[u8], needle: &[u8], from: usize| {
        hay.get(from..)?
            .windows(needle.len())
            .position(|w| w == needle)
            .map(|i| i + from)
    };
    let mut at = find(body, &delimiter, 0).ok_or_else(malformed)? + delimiter.len();
    let mut parts = Vec::new();
    loop {
        if body.get(at..at + 2) == Some(b"--") {
            return Ok(parts);
        }
        let start = at + 2; // the CRLF after the delimiter
        let headers_end = find(body, b"\r\n\r\n", start).ok_or_else(malformed)?;
        let headers = String::from_utf8_lossy(&body[start..headers_end]).into_owned();
        let mut end_delimiter = b"\r\n".to_vec();
        end_delimiter.extend_from_slice(&delimiter);
        let content_end = find(body, &end_delimiter, headers_end + 4).ok_or_else(malformed)?;
        let disposition = headers
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("content-disposition:"))
            .ok_or_else(malformed)?;
        let attribute = |key: &str| {
            disposition.split(';').find_map(|p| {
                let (k, v) = p.trim().split_once('=')?;
                (k == key).then(|| v.trim_matches('"').to_owned())
            })
        };
        parts.push(Part {
            name: attribute("name").ok_or_else(malformed)?,
            file_name: attribute("filename"),
            content: body[headers_end + 4..content_end].to_vec(),
        });
        at = content_end + end_delimiter.len();
    }
}

/// An integer from a JSON number or a numeric string.
pub(crate) fn value_int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A boolean from a JSON bool or `"true"`/`"false"`.
pub(crate) fn value_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.trim() {
            "true" | "True" | "1" => Some(true),
            "false" | "False" | "0" => Some(false),
            _ => None,
        },
        Value::Number(n) => n.as_i64().map(|n| n != 0),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `multipart/form-data` body as reqwest writes one: text fields become parameters,
    /// a file part becomes an upload with its name and exact bytes (CRLFs inside kept).
    #[test]
    fn multipart_fields_and_files() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"chat_id\"\r\n\r\n-100\r\n\
--XyZ\r\nContent-Disposition: form-data; name=\"caption\"\r\n\r\nA <b>CSV</b>\r\n\
--XyZ\r\nContent-Disposition: form-data; name=\"document\"; filename=\"claims.csv\"\r\n\
Content-Type: application/octet-stream\r\n\r\na,b\r\n1,2\r\n\r\n--XyZ--\r\n";
        let p = Params::parse(None, Some("multipart/form-data; boundary=XyZ"), body).unwrap();
        assert_eq!(p.int("chat_id"), Ok(Some(-100)));
        assert_eq!(p.string("caption").as_deref(), Some("A <b>CSV</b>"));
        let upload = p.upload("document").expect("the file");
        assert_eq!(upload.file_name, "claims.csv");
        assert_eq!(upload.content, b"a,b\r\n1,2\r\n");
        let broken = Params::parse(None, Some("multipart/form-data; boundary=XyZ"), b"junk");
        assert!(broken.is_err());
    }

    #[test]
    fn merges_query_json_and_form() {
        let p = Params::parse(Some("offset=5&timeout=0"), None, b"").unwrap();
        assert_eq!(p.int("offset"), Ok(Some(5)));
        let p = Params::parse(
            Some("offset=5"),
            Some("application/json"),
            br#"{"offset": 7, "reply_markup": {"inline_keyboard": []}}"#,
        )
        .unwrap();
        assert_eq!(p.int("offset"), Ok(Some(7)));
        assert!(p.json("reply_markup").unwrap().is_some());
        let p = Params::parse(
            None,
            Some("application/x-www-form-urlencoded"),
            b"chat_id=-100&text=a%26b&reply_markup=%7B%22inline_keyboard%22%3A%5B%5D%7D",
        )
        .unwrap();
        assert_eq!(p.int("chat_id"), Ok(Some(-100)));
        assert_eq!(p.string("text").as_deref(), Some("a&b"));
        assert!(p.json("reply_markup").unwrap().is_some());
        assert_eq!(p.int("text"), Err(()));
        assert!(Params::parse(None, Some("application/json"), b"[1]").is_err());
        assert!(Params::parse(None, Some("application/json"), b"{").is_err());
    }
}
