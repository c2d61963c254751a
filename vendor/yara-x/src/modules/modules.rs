// File generated automatically by build.rs. Do not edit.
#[cfg(feature = "console-module")]
mod console;
#[cfg(feature = "crx-module")]
mod crx;
#[cfg(feature = "cuckoo-module")]
mod cuckoo;
#[cfg(feature = "dex-module")]
mod dex;
#[cfg(feature = "dotnet-module")]
mod dotnet;
#[cfg(feature = "elf-module")]
mod elf;
#[cfg(feature = "hash-module")]
mod hash;
#[cfg(feature = "lnk-module")]
mod lnk;
#[cfg(feature = "macho-module")]
mod macho;
#[cfg(feature = "magic-module")]
mod magic;
#[cfg(feature = "math-module")]
mod math;
#[cfg(feature = "msi-module")]
mod msi;
#[cfg(feature = "olecf-module")]
mod olecf;
#[cfg(feature = "pe-module")]
mod pe;
#[cfg(feature = "string-module")]
mod string;
#[cfg(feature = "test_proto2-module")]
mod test_proto2;
#[cfg(feature = "test_proto3-module")]
mod test_proto3;
#[cfg(feature = "time-module")]
mod time;
#[cfg(feature = "vba-module")]
mod vba;
#[cfg(feature = "vt-module")]
mod vt;
#[cfg(feature = "zip-module")]
mod zip;