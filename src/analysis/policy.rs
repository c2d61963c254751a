//! Lists of policy that more than one format's reader applies, kept once so that the readers
//! cannot drift apart.

/// Extensions of files Windows runs, or opens as code, when they are double-clicked: a mail
/// attachment or a packaged OLE object (in RTF) with one of these is executable.
pub(crate) const EXECUTABLE_EXTENSIONS: &[&str] = &[
    "exe",
    "scr",
    "com",
    "pif",
    "bat",
    "cmd",
    "vbs",
    "vbe",
    "js",
    "jse",
    "wsf",
    "wsh",
    "hta",
    "ps1",
    "lnk",
    "msi",
    "msc",
    "jar",
    "cpl",
    "reg",
    "dll",
    "sct",
    "inf",
    "application",
];

/// Whether `ext` (lower case, without the dot) is in [`EXECUTABLE_EXTENSIONS`].
pub(crate) fn is_executable_extension(ext: &str) -> bool {
    EXECUTABLE_EXTENSIONS.contains(&ext)
}
