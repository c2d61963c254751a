//! Licensing: the machine id, the applied license document and its status, as the license API
//! reports them. Licensing never blocks analysis unless `license.enforce` is set.
//!
//! There is no vendor signing key in an open-source server, so a license document is checked for
//! consistency (product, machine id, dates, the 45-day WILDCARD limit), not for a signature.

use serde::{Deserialize, Serialize};

use crate::store::{Store, StoreError};

/// The only product a license may name.
pub const PRODUCT: &str = "tiscale-worker";
/// WILDCARD (machine-independent, trial) licenses last at most this long.
pub const WILDCARD_MAX_DAYS: i64 = 45;

const KEY_MACHINE_ID: &str = "machine_id";
const KEY_LICENSE: &str = "license";

/// A license document as uploaded and as reported by `GET /api/license/v1/`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct LicenseDoc {
    pub product: String,
    #[serde(default)]
    pub machine_id: Option<String>,
    pub version: i64,
    pub serial_number: String,
    pub license_type: String,
    pub company: String,
    pub expiry_date: String,
    pub creation_date: String,
}

/// The `status` values of the seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    Valid,
    /// Licensed through the cloud; never reported here (there is no cloud).
    #[allow(dead_code)]
    Online,
    Invalid,
    Expired,
    NoLicense,
    NoMachineId,
}

/// The answer of `GET /api/license/v1/`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Info {
    pub product: &'static str,
    pub machine_id: Option<String>,
    pub version: Option<i64>,
    pub serial_number: Option<String>,
    pub license_type: Option<String>,
    pub company: Option<String>,
    pub expiry_date: Option<String>,
    pub creation_date: Option<String>,
    pub status: Status,
}

/// What an upload did.
#[derive(Debug, PartialEq, Eq)]
pub enum Applied {
    /// 201 "License is applied".
    New,
    /// 200 "License is already applied".
    Already,
}

/// Why an uploaded license was refused (400 with this text), or the store failed.
#[derive(Debug, thiserror::Error)]
pub enum LicenseError {
    /// The document is not an acceptable license; the text says why.
    #[error("{0}")]
    Rejected(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn new_machine_id() -> String {
    crate::analysis::hashes::hex(&crate::host::unique_bytes()).to_uppercase()
}

/// The machine id, generated and persisted the first time it is needed.
pub fn machine_id(store: &Store) -> Result<String, StoreError> {
    store.meta_get_or_insert(KEY_MACHINE_ID, &new_machine_id())
}

/// Replaces the machine id (a REGULAR license for the old id becomes INVALID).
pub fn regenerate_machine_id(store: &Store) -> Result<String, StoreError> {
    let id = new_machine_id();
    store.meta_set(KEY_MACHINE_ID, &id)?;
    Ok(id)
}

fn applied(store: &Store) -> Result<Option<LicenseDoc>, StoreError> {
    Ok(store
        .meta_get(KEY_LICENSE)?
        .and_then(|s| serde_json::from_str(&s).ok()))
}

/// Status of `doc` for this machine at time `now`.
fn status_of(doc: Option<&LicenseDoc>, machine_id: &str, now: i64) -> Status {
    let Some(doc) = doc else {
        return Status::NoLicense;
    };
    if validate(doc, machine_id).is_err() {
        return Status::Invalid;
    }
    match crate::time::parse_utc(&doc.expiry_date) {
        Some(expiry) if expiry <= now => Status::Expired,
        Some(_) => Status::Valid,
        None => Status::Invalid,
    }
}

/// Full license information (generates the machine id if there is none yet).
pub fn info(store: &Store, now: i64) -> Result<Info, StoreError> {
    let machine_id = machine_id(store)?;
    let doc = applied(store)?;
    let status = if machine_id.is_empty() {
        Status::NoMachineId
    } else {
        status_of(doc.as_ref(), &machine_id, now)
    };
    Ok(Info {
        product: PRODUCT,
        machine_id: Some(machine_id),
        version: doc.as_ref().map(|d| d.version),
        serial_number: doc.as_ref().map(|d| d.serial_number.clone()),
        license_type: doc.as_ref().map(|d| d.license_type.clone()),
        company: doc.as_ref().map(|d| d.company.clone()),
        expiry_date: doc.as_ref().map(|d| d.expiry_date.clone()),
        creation_date: doc.as_ref().map(|d| d.creation_date.clone()),
        status,
    })
}

/// Checks a document against this machine, without looking at the clock.
fn validate(doc: &LicenseDoc, machine_id: &str) -> Result<(), String> {
    if doc.product != PRODUCT {
        return Err(format!(
            "License is for product {:?}, not {PRODUCT:?}",
            doc.product
        ));
    }
    let created = crate::time::parse_utc(&doc.creation_date)
        .ok_or("creationDate is not a date of the form YYYY-MM-DDTHH:mm:ssZ")?;
    let expiry = crate::time::parse_utc(&doc.expiry_date)
        .ok_or("expiryDate is not a date of the form YYYY-MM-DDTHH:mm:ssZ")?;
    if expiry <= created {
        return Err("expiryDate is not after creationDate".into());
    }
    match doc.license_type.as_str() {
        "REGULAR" => match doc.machine_id.as_deref() {
            Some(id) if id.eq_ignore_ascii_case(machine_id) => Ok(()),
            Some(_) => Err("License was issued for another machine ID".into()),
            None => Err("A REGULAR license must name the machineId".into()),
        },
        "WILDCARD" => {
            if expiry - created > WILDCARD_MAX_DAYS * 86_400 {
                Err(format!(
                    "A WILDCARD license may last at most {WILDCARD_MAX_DAYS} days"
                ))
            } else {
                Ok(())
            }
        }
        other => Err(format!(
            "licenseType must be REGULAR or WILDCARD, not {other:?}"
        )),
    }
}

/// Applies an uploaded license document.
pub fn apply(store: &Store, body: &[u8], now: i64) -> Result<Applied, LicenseError> {
    let doc: LicenseDoc = serde_json::from_slice(body).map_err(|e| {
        LicenseError::Rejected(format!("License file is not a valid license document: {e}"))
    })?;
    let machine_id = machine_id(store)?;
    validate(&doc, &machine_id).map_err(LicenseError::Rejected)?;
    if status_of(Some(&doc), &machine_id, now) == Status::Expired {
        return Err(LicenseError::Rejected("License has expired".into()));
    }
    if applied(store)?.as_ref() == Some(&doc) {
        return Ok(Applied::Already);
    }
    let text = serde_json::to_string(&doc).map_err(|e| LicenseError::Rejected(e.to_string()))?;
    store.meta_set(KEY_LICENSE, &text)?;
    Ok(Applied::New)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(kind: &str, machine: Option<&str>, created: &str, expiry: &str) -> LicenseDoc {
        LicenseDoc {
            product: PRODUCT.into(),
            machine_id: machine.map(str::to_string),
            version: 1,
            serial_number: "SN-1".into(),
            license_type: kind.into(),
            company: "ACME".into(),
            expiry_date: expiry.into(),
            creation_date: created.into(),
        }
    }

    #[test]
    fn statuses() {
        let now = crate::time::parse_utc("2026-06-01T00:00:00Z").unwrap();
        let regular = doc(
            "REGULAR",
            Some("M1"),
            "2026-01-01T00:00:00Z",
            "2027-01-01T00:00:00Z",
        );
        assert_eq!(status_of(None, "M1", now), Status::NoLicense);
        assert_eq!(status_of(Some(&regular), "M1", now), Status::Valid);
        assert_eq!(status_of(Some(&regular), "m1", now), Status::Valid);
        assert_eq!(status_of(Some(&regular), "M2", now), Status::Invalid);
        let later = crate::time::parse_utc("2027-01-01T00:00:00Z").unwrap();
        assert_eq!(status_of(Some(&regular), "M1", later), Status::Expired);
    }

    #[test]
    fn wildcard_is_limited_to_45_days() {
        let ok = doc(
            "WILDCARD",
            None,
            "2026-01-01T00:00:00Z",
            "2026-02-15T00:00:00Z",
        );
        assert!(validate(&ok, "any").is_ok());
        let long = doc(
            "WILDCARD",
            None,
            "2026-01-01T00:00:00Z",
            "2026-02-16T00:00:00Z",
        );
        assert!(validate(&long, "any").unwrap_err().contains("45 days"));
    }

    #[test]
    fn malformed_documents_are_explained() {
        let mut d = doc(
            "REGULAR",
            None,
            "2026-01-01T00:00:00Z",
            "2027-01-01T00:00:00Z",
        );
        assert!(validate(&d, "M").unwrap_err().contains("machineId"));
        d.license_type = "GOLD".into();
        assert!(validate(&d, "M").unwrap_err().contains("licenseType"));
        d.license_type = "WILDCARD".into();
        d.expiry_date = "soon".into();
        assert!(validate(&d, "M").unwrap_err().contains("expiryDate"));
        d.product = "other".into();
        assert!(validate(&d, "M").unwrap_err().contains("product"));
    }
}
