//! Payloads wrapped the way malware ships: each public sample of the Debian package
//! `clamav-testfiles` wraps the same small test executable, `clam.exe`, in one format (an
//! installer, a packer, a document, a page). `.ci/run` installs the package; the samples are read
//! where it puts them and never copied into the repository.
//!
//! For each format assay unpacks, the report must hold a child byte-identical to `clam.exe`,
//! analysed like any other file, and the wrapper must say what it is.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::TempDir;
use crate::formats::{scan_config_in, sha256};

const CORPUS: &str = "/usr/share/clamav-testfiles";

fn sample(name: &str) -> PathBuf {
    let path = Path::new(CORPUS).join(name);
    assert!(
        path.exists(),
        "{} is missing: install the Debian package clamav-testfiles (.ci/run does)",
        path.display()
    );
    path
}

/// The sha256 of the wrapped test executable.
fn clam_exe_sha256() -> String {
    sha256_of(&sample("clam.exe"))
}

/// The sha256 of a file, as `assay digest` prints it.
fn sha256_of(path: &Path) -> String {
    let out = std::process::Command::new(crate::common::bin())
        .arg("digest")
        .arg(path)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    text.split_whitespace()
        .nth(2)
        .unwrap_or_else(|| panic!("digest printed {text:?}"))
        .to_string()
}

/// The report of one sample, scanned with the default configuration.
fn report(name: &str) -> Vec<Value> {
    let dir = TempDir::new("wrapped");
    let s = scan_config_in(dir.path(), &[sample(name)], None);
    s.report(name).clone()
}

/// The entry byte-identical to `clam.exe` in the report of `name`, with its path.
fn payload(name: &str) -> (String, Value) {
    let want = clam_exe_sha256();
    let r = report(name);
    let found = r.iter().skip(1).find(|e| sha256(e) == want);
    let paths: Vec<&str> = r
        .iter()
        .map(|e| e["info"]["file"]["file_path"].as_str().unwrap())
        .collect();
    let e = found.unwrap_or_else(|| panic!("{name}: no child is clam.exe; entries: {paths:?}"));
    let path = e["info"]["file"]["file_path"].as_str().unwrap().to_string();
    // Analysed like any other file: identified as the executable it is.
    assert_eq!(e["info"]["file"]["file_type"], "PE", "{name}: {path}");
    (path, r[0].clone())
}

#[test]
fn a_data_uri_in_a_page_yields_the_executable() {
    let (path, page) = payload("clam.exe.html");
    assert_eq!(path, "clam.exe.html/data-1.bin");
    assert_eq!(page["info"]["identification"]["name"], "HTML");
}

#[test]
fn a_packaged_object_in_a_word_document_yields_the_executable() {
    let (path, doc) = payload("clam.ole.doc");
    assert_eq!(path, "clam.ole.doc/ObjectPool/_1279313719/Clam.exe");
    assert_eq!(doc["info"]["file"]["file_type"], "Document");
}

#[test]
fn an_object_in_a_powerpoint_presentation_yields_the_executable() {
    let (path, _) = payload("clam.ppt");
    assert_eq!(path, "clam.ppt/PowerPoint Document/object-1.ole/clam.exe");
}

#[test]
fn an_nsis_installer_yields_the_executable_under_its_script_name() {
    let (path, installer) = payload("clam-nsis.exe");
    assert_eq!(path, "clam-nsis.exe/$INSTDIR\\clam.exe");
    assert_eq!(
        installer["info"]["identification"]["name"],
        "PE32 executable (NSIS installer)"
    );
}

#[test]
fn compiled_autoit_scripts_yield_the_executable_they_install() {
    for (sample, version) in [("clam.ea05.exe", "EA05"), ("clam.ea06.exe", "EA06")] {
        // The samples' interpreter stub is itself UPX-packed: the script is two layers down.
        let (path, _) = payload(sample);
        assert_eq!(path, format!("{sample}/unpacked.exe/C:\\clam.exe"));
        let r = report(sample);
        let stub = r
            .iter()
            .find(|e| e["info"]["file"]["file_path"] == format!("{sample}/unpacked.exe"))
            .unwrap();
        assert_eq!(
            stub["info"]["identification"]["name"],
            format!("PE32 executable (AutoIt v3 script ({version}))")
        );
        // Both give the script's source: EA05 as stored (UTF-16LE), EA06 from its tokens.
        let script = r
            .iter()
            .find(|e| e["info"]["file"]["file_path"] == format!("{sample}/unpacked.exe/script.au3"))
            .unwrap_or_else(|| panic!("{sample}: no script.au3"));
        assert_eq!(script["info"]["file"]["file_type"], "Text", "{sample}");
    }
}

/// A rule on what an AutoIt script does, as its source reads.
const AUTOIT_RULE: &str = r#"
rule AutoIt_Installs_And_Runs_Clam {
    strings:
        $install = "FileInstall(\"C:\\clam.exe\", $TMP, 1)" ascii wide nocase
        $run = "RunWait($TMP)" ascii wide nocase
    condition:
        all of them
}
"#;

#[test]
fn a_rule_on_autoit_source_matches_both_script_versions() {
    // EA06 stores the script as tokens: only the decoded source lets a rule read it.
    let dir = TempDir::new("autoit-rule");
    let rules = crate::yara::rules_dir(&dir, &[("autoit.yar", AUTOIT_RULE)]);
    for sample_name in ["clam.ea05.exe", "clam.ea06.exe"] {
        let s = crate::yara::scan_with_rules(&dir, &rules, &[sample(sample_name)]);
        let r = s.report(sample_name);
        let script = r
            .iter()
            .find(|e| {
                e["info"]["file"]["file_path"] == format!("{sample_name}/unpacked.exe/script.au3")
            })
            .unwrap_or_else(|| panic!("{sample_name}: no script.au3"));
        assert_eq!(
            crate::yara::rule_names(script),
            ["AutoIt_Installs_And_Runs_Clam"],
            "{sample_name}"
        );
    }
}

#[test]
fn an_msi_installs_its_cabinet_files_under_their_table_names() {
    let repo = crate::formats::repo();
    let dir = TempDir::new("wrapped-msi");
    let s = scan_config_in(dir.path(), &[repo.join("tests/data/msi/named.msi")], None);
    let r = s.report("named.msi");
    let want = sha256_of(&repo.join("tests/data/pe/app32.exe"));
    let e = r
        .iter()
        .find(|e| e["info"]["file"]["file_path"] == "named.msi/payload.cab/app32.exe")
        .expect("app32.exe under its installed name, not its File-table key");
    assert_eq!(sha256(e), want);
    assert!(r
        .iter()
        .any(|e| e["info"]["file"]["file_path"] == "named.msi/payload.cab/read me first.txt"));
}

#[test]
fn an_executable_stored_in_a_section_is_carved_out() {
    let (path, _) = payload("clam-fsg.exe");
    assert_eq!(path, "clam-fsg.exe/sections/.clamav@0xde0.exe");
}

#[test]
fn packed_executables_are_restored_and_their_payload_found() {
    // Each sample packs the same small dropper, whose last section holds clam.exe, whole or
    // zipped. A restored file is not the dropper byte for byte (these packers keep neither its
    // headers nor its layout), but its sections are, so the payload comes out byte-identical.
    for (sample, packer, path) in [
        (
            "clam-aspack.exe",
            "ASPack",
            "clam-aspack.exe/unpacked.exe/sections/.clam@0xde0.exe",
        ),
        (
            "clam-mew.exe",
            "MEW",
            "clam-mew.exe/unpacked.exe/sections/3@0xe6c.zip/clam.exe",
        ),
        (
            "clam-petite.exe",
            "Petite",
            "clam-petite.exe/unpacked.exe/sections/3@0xe6c.zip/clam.exe",
        ),
        (
            "clam-pespin.exe",
            "PESpin",
            "clam-pespin.exe/unpacked.exe/sections/3@0xde0.exe",
        ),
        (
            "clam-upack.exe",
            "Upack",
            "clam-upack.exe/unpacked.exe/sections/0@0x3e6c.zip/clam.exe",
        ),
        (
            "clam-wwpack.exe",
            "WWPack32",
            "clam-wwpack.exe/unpacked.exe/sections/.clam@0xe6c.zip/clam.exe",
        ),
        // yoda's Crypter over UPX: decrypted, then unpacked.
        (
            "clam-yc.exe",
            "yoda's Crypter",
            "clam-yc.exe/unpacked.exe/unpacked.exe/sections/.clam@0xde0.exe",
        ),
    ] {
        let (found, top) = payload(sample);
        assert_eq!(found, path, "{sample}");
        let name = top["info"]["identification"]["name"].as_str().unwrap();
        assert_eq!(name, format!("PE32 executable ({packer})"), "{sample}");
        let r = report(sample);
        let restored = r
            .iter()
            .find(|e| e["info"]["file"]["file_path"] == format!("{sample}/unpacked.exe"))
            .unwrap();
        // The restored program is not taken for packed again (yC's is UPX-packed: it is).
        let restored_name = restored["info"]["identification"]["name"].as_str().unwrap();
        let want = if packer.starts_with("yoda") {
            "PE32 executable (UPX)"
        } else {
            "PE32 executable"
        };
        assert_eq!(restored_name, want, "{sample}");
        for e in &r {
            let warnings = e["info"]["unpacking"]["warnings"].to_string();
            assert!(!warnings.contains("not restore"), "{sample}: {warnings}");
            assert!(
                !e["indicators"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|i| i["id"] == "pe-packed-not-restored"),
                "{sample}"
            );
        }
    }
}

#[test]
fn a_upx_packed_dropper_is_rebuilt_and_its_payload_found() {
    let (path, top) = payload("clam-upx.exe");
    assert_eq!(path, "clam-upx.exe/unpacked.exe/sections/.clam@0xde0.exe");
    assert_eq!(
        top["info"]["identification"]["name"],
        "PE32 executable (UPX)"
    );
}

#[test]
fn a_symbian_package_yields_the_file_it_installs() {
    let (path, package) = payload("clam.sis");
    assert_eq!(path, "clam.sis/!:\\clam.exe");
    assert_eq!(
        package["info"]["identification"]["name"],
        "Symbian SIS package"
    );
}

#[test]
fn msi_based_installshield_setups_yield_the_executable() {
    // The internal form carries the MSI, whose cabinet holds clam.exe under its table name; the
    // external form carries clam.exe itself among its support files.
    let (path, setup) = payload("clam_ISmsi_int.exe");
    assert_eq!(path, "clam_ISmsi_int.exe/clam.msi/Data1.cab/clam.exe");
    assert_eq!(
        setup["info"]["identification"]["name"],
        "PE32 executable (InstallShield setup)"
    );
    let (path, _) = payload("clam_ISmsi_ext.exe");
    assert_eq!(path, "clam_ISmsi_ext.exe/clam.exe409.bmp");
}

#[test]
fn older_installshield_setups_yield_the_executable_from_their_cabinets() {
    // Internal form: clam.exe is stored in the InstallShield cabinet data2.cab; external form:
    // it is listed among the setup's own files.
    let (path, setup) = payload("clam_IScab_int.exe");
    assert_eq!(path, "clam_IScab_int.exe/data2.cab/clam.exe");
    assert_eq!(
        setup["info"]["identification"]["name"],
        "PE32 executable (InstallShield setup)"
    );
    let (path, _) = payload("clam_IScab_ext.exe");
    assert_eq!(path, "clam_IScab_ext.exe/clam.exe");
}
