#[cfg(feature = "crypto")]
pub mod asn1;

#[cfg(feature = "crypto")]
pub mod authenticode;

#[cfg(feature = "crypto")]
pub mod crypto;

#[cfg(feature = "crypto")]
pub mod leb128;
#[cfg(any(
    feature = "olecf-module",
    feature = "msi-module",
    feature = "vba-module"
))]
pub mod olecf;
#[cfg(any(feature = "zip-module", feature = "vba-module"))]
pub mod zip;
