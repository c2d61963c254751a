//! AutoIt EA06 detokenizer: turns the token stream that Aut2Exe (AutoIt 3.2.6 and later) stores
//! in place of a compiled script's source back into AutoIt source text.
//!
//! Written from ClamAV's libclamav/autoit.c (GPL; read for the format, no code taken). The name
//! tables are AutoIt's vocabulary in AutoIt's order, as in ClamAV's current release (which
//! names the slots older releases left `UNKNOWN_n`: `DummySpeedTest`, `IsMap`, the `Map*`
//! functions, `UDPShutdown`, `UDPStartup`, `Volatile`), with the case AutoIt's documentation
//! gives them (as also in nazywam/AutoIt-Ripper's `autoit_data.py`).
//!
//! The stream is a little-endian u32 count of lines, then tokens, each a type byte and its
//! operand (all numbers little-endian):
//!
//! | type        | operand                        | meaning                                   |
//! |-------------|--------------------------------|-------------------------------------------|
//! | 0x00        | u32 index into [`KEYWORDS`]    | keyword                                   |
//! | 0x01        | u32 index into [`FUNCTIONS`]   | built-in function                         |
//! | 0x05        | i32                            | integer                                   |
//! | 0x10        | i64                            | integer                                   |
//! | 0x20        | f64                            | floating-point number                     |
//! | 0x30..=0x37 | u32 count n, n UTF-16LE units  | keyword, built-in function, macro (`@`),  |
//! |             | each XORed with n's low 16 bits| variable (`$`), user function, object     |
//! |             |                                | member (`.`), string literal, directive   |
//! | 0x40..=0x58 | none                           | operator, see [`OPERATORS`]               |
//! | 0x7f        | none                           | end of line                               |
//!
//! Older compilers (3.2.x, as in ClamAV's `clam.ea06.exe`) name keywords and functions with the
//! text tokens 0x30 and 0x31; newer ones use the numbered tokens 0x00 and 0x01. Names come in
//! upper case: keywords, functions and macros are given their canonical case again from the
//! tables below, while variables and the script's own functions stay in upper case (their
//! original case is lost). Comments, blank lines and line continuations (`_`) are not stored,
//! so the text has one line per line token, indented by block and spaced as AutoIt's Tidy lays
//! code out. An unknown token type ends decoding (its size is unknown), with a warning.

use crate::analysis::bytes::le32;

/// Largest text produced, in bytes; lines past it are left out, with a warning.
pub const MAX_OUTPUT: usize = 64 << 20;

/// Most warnings returned; the rest are counted in one last warning.
pub const MAX_WARNINGS: usize = 100;

/// Longest text token decoded, in UTF-16 units: once quoted it stays below [`MAX_OUTPUT`]. No
/// real script comes near it; a longer one stops decoding.
const MAX_TOKEN_UNITS: u32 = 1 << 22;

/// Deepest block nesting shown as indentation (tabs); deeper lines are indented this much.
const MAX_INDENT: usize = 32;

/// What ends each line: AutoIt scripts are Windows text files.
const LINE_END: &str = "\r\n";

/// The source text of an EA06 token stream, and warnings for anything not decoded.
///
/// Fails only when the stream is too short for its line count or its first token cannot be
/// decoded (then it is not a token stream); any later damage gives the text decoded so far
/// and a warning saying where decoding stopped.
pub fn detokenize(tokens: &[u8]) -> Result<(String, Vec<String>), String> {
    let declared = le32(tokens, 0).ok_or_else(|| {
        format!(
            "autoit: the token stream is {} bytes, too short to hold its line count",
            tokens.len()
        )
    })?;
    let mut decoder = Decoder {
        data: tokens,
        pos: 4,
        warnings: Warnings::default(),
    };
    let mut script = Script::default();
    let mut line: Vec<Token> = Vec::new();
    // Bytes the tokens of `line` will take in the text, spaces included.
    let mut pending: usize = 0;
    let mut lines: u32 = 0;
    let mut end = End::Drained;
    while lines < declared && decoder.pos < tokens.len() {
        match decoder.step() {
            Ok(Step::Token(token)) => {
                pending = pending
                    .saturating_add(token.source().len())
                    .saturating_add(1);
                line.push(token);
                if script.text.len().saturating_add(pending) > MAX_OUTPUT {
                    end = End::Full;
                    break;
                }
            }
            Ok(Step::LineEnd) => {
                lines = lines.saturating_add(1);
                if !script.push_line(&line) {
                    end = End::Full;
                    break;
                }
                line.clear();
                pending = 0;
            }
            Err(message) if lines == 0 && line.is_empty() => return Err(message),
            Err(message) => {
                decoder.warnings.push(format!(
                    "{message}; decoding stopped after line {lines} of {declared}"
                ));
                end = End::Damaged;
                break;
            }
        }
    }
    // A last line cut short by damage is still worth showing.
    if end != End::Full && !line.is_empty() && !script.push_line(&line) {
        end = End::Full;
    }
    let mut warnings = decoder.warnings;
    let rest = tokens.len().saturating_sub(decoder.pos);
    match end {
        End::Full => warnings.push(format!(
            "autoit: the script text reached its cap of {} MiB after line {}; the rest was not \
             decoded",
            MAX_OUTPUT >> 20,
            script.lines
        )),
        End::Drained if lines < declared => warnings.push(format!(
            "autoit: the token stream declares {declared} lines but ends after {lines}"
        )),
        End::Drained if rest > 0 => warnings.push(format!(
            "autoit: {rest} bytes after the last of the {declared} declared lines were not decoded"
        )),
        End::Drained | End::Damaged => {}
    }
    Ok((script.text, warnings.finish()))
}

/// Why decoding ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    /// The declared lines were read, or the stream ran out between tokens.
    Drained,
    /// A token could not be decoded (already warned about).
    Damaged,
    /// The text reached [`MAX_OUTPUT`].
    Full,
}

/// One decoded token, holding its source text.
#[derive(Clone, Debug, PartialEq)]
enum Token {
    /// A language keyword (`If`, `Func`, `True`), in canonical case when known.
    Keyword(String),
    /// A built-in function's name, in canonical case when known.
    Builtin(String),
    /// The name of a function the script defines.
    UserFunction(String),
    /// A macro, with its `@`.
    Macro(String),
    /// A variable, with its `$`.
    Variable(String),
    /// An object's property or method, with its `.`.
    Member(String),
    /// A number literal, in decimal.
    Number(String),
    /// A string literal, quoted and escaped.
    Text(String),
    /// A compiler directive, with its `#`.
    Directive(String),
    /// An operator or bracket.
    Operator(&'static str),
}

impl Token {
    /// The token as it is written in source.
    fn source(&self) -> &str {
        match self {
            Token::Keyword(s)
            | Token::Builtin(s)
            | Token::UserFunction(s)
            | Token::Macro(s)
            | Token::Variable(s)
            | Token::Member(s)
            | Token::Number(s)
            | Token::Text(s)
            | Token::Directive(s) => s,
            Token::Operator(s) => s,
        }
    }

    /// True for the keyword `name`.
    fn is_keyword(&self, name: &str) -> bool {
        matches!(self, Token::Keyword(k) if k == name)
    }
}

/// What one step through the stream found.
enum Step {
    /// A token of the current line.
    Token(Token),
    /// The end of the current line.
    LineEnd,
}

/// Reads tokens from the stream, noting anything odd.
struct Decoder<'a> {
    /// The whole token stream.
    data: &'a [u8],
    /// Offset of the next byte to read.
    pos: usize,
    /// Warnings so far.
    warnings: Warnings,
}

impl<'a> Decoder<'a> {
    /// Takes the next `n` bytes, or nothing (and takes nothing) when fewer are left.
    fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let taken = self.data.get(self.pos..end)?;
        self.pos = end;
        Some(taken)
    }

    /// Takes the next `N` bytes as an array for a token of kind `what` that starts at `at`.
    fn array<const N: usize>(&mut self, what: &str, at: usize) -> Result<[u8; N], String> {
        self.bytes(N)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| format!("autoit: {what} token at {at:#x} runs past the end"))
    }

    /// Decodes the next token, or says why the stream cannot be read further.
    fn step(&mut self) -> Result<Step, String> {
        let at = self.pos;
        let [kind] = self.array::<1>("a", at)?;
        let token = match kind {
            0x00 => {
                let index = u32::from_le_bytes(self.array("keyword", at)?);
                Token::Keyword(self.numbered(&KEYWORDS, index, "keyword", at))
            }
            0x01 => {
                let index = u32::from_le_bytes(self.array("function", at)?);
                Token::Builtin(self.numbered(&FUNCTIONS, index, "function", at))
            }
            0x05 => Token::Number(i32::from_le_bytes(self.array("integer", at)?).to_string()),
            0x10 => Token::Number(i64::from_le_bytes(self.array("integer", at)?).to_string()),
            0x20 => {
                let value = f64::from_le_bytes(self.array("number", at)?);
                if !value.is_finite() {
                    self.warnings.push(format!(
                        "autoit: the number at {at:#x} is {value}, which AutoIt cannot write"
                    ));
                }
                // `{:?}` keeps a float a float (`1.0`) and is exact.
                Token::Number(format!("{value:?}"))
            }
            0x30..=0x37 => self.named(kind, at)?,
            0x40..=0x58 => {
                let op = OPERATORS
                    .get(usize::from(kind.saturating_sub(0x40)))
                    .copied()
                    .unwrap_or("?");
                Token::Operator(op)
            }
            0x7f => return Ok(Step::LineEnd),
            _ => {
                return Err(format!("autoit: unknown token type {kind:#04x} at {at:#x}"));
            }
        };
        Ok(Step::Token(token))
    }

    /// The name at `index` of `table` for a numbered token, or a marked placeholder.
    fn numbered(&mut self, table: &[&str], index: u32, what: &str, at: usize) -> String {
        match usize::try_from(index).ok().and_then(|i| table.get(i)) {
            Some(name) if !name.is_empty() => (*name).to_string(),
            _ => {
                self.warnings.push(format!(
                    "autoit: {what} number {index} at {at:#x} is not known"
                ));
                format!("<{what} {index}>")
            }
        }
    }

    /// Decodes a token that carries its text (types 0x30 to 0x37).
    fn named(&mut self, kind: u8, at: usize) -> Result<Token, String> {
        let what = match kind {
            0x30 => "keyword",
            0x31 => "function",
            0x32 => "macro",
            0x33 => "variable",
            0x34 => "function name",
            0x35 => "member",
            0x36 => "string",
            _ => "directive",
        };
        let count = u32::from_le_bytes(self.array(what, at)?);
        if count > MAX_TOKEN_UNITS {
            return Err(format!(
                "autoit: {what} token at {at:#x} claims {count} characters, more than \
                 {MAX_TOKEN_UNITS}"
            ));
        }
        let units = usize::try_from(count)
            .ok()
            .and_then(|n| n.checked_mul(2))
            .and_then(|n| self.bytes(n))
            .ok_or_else(|| format!("autoit: {what} token at {at:#x} runs past the end"))?;
        // Each unit is XORed with the low 16 bits of the count (truncation intended).
        let key = count as u16;
        let mut bad = 0usize;
        let text: String = char::decode_utf16(units.chunks_exact(2).map(|pair| match pair {
            [lo, hi] => u16::from_le_bytes([*lo, *hi]) ^ key,
            _ => 0,
        }))
        .map(|c| {
            c.unwrap_or_else(|_| {
                bad = bad.saturating_add(1);
                char::REPLACEMENT_CHARACTER
            })
        })
        .collect();
        if bad > 0 {
            self.warnings.push(format!(
                "autoit: the {what} at {at:#x} holds {bad} unpaired UTF-16 surrogates, shown as \
                 U+FFFD"
            ));
        }
        Ok(match kind {
            0x30 => match keyword_case(&text) {
                Some(name) => Token::Keyword(name.to_string()),
                None => {
                    self.warnings.push(format!(
                        "autoit: the keyword {text:?} at {at:#x} is not a known keyword"
                    ));
                    Token::Keyword(text)
                }
            },
            0x31 => Token::Builtin(function_case(&text).map_or(text, str::to_string)),
            0x32 => Token::Macro(format!("@{}", macro_case(&text).unwrap_or(text.as_str()))),
            0x33 => Token::Variable(format!("${text}")),
            0x34 => Token::UserFunction(text),
            0x35 => Token::Member(format!(".{text}")),
            0x36 => Token::Text(format!("\"{}\"", text.replace('"', "\"\""))),
            _ if text.starts_with('#') => Token::Directive(text),
            _ => Token::Directive(format!("#{text}")),
        })
    }
}

/// Warnings, at most [`MAX_WARNINGS`] of them kept.
#[derive(Default)]
struct Warnings {
    /// The warnings kept, in order.
    kept: Vec<String>,
    /// How many more were dropped.
    dropped: usize,
}

impl Warnings {
    /// Adds a warning, or counts it when enough are kept.
    fn push(&mut self, warning: String) {
        if self.kept.len() < MAX_WARNINGS {
            self.kept.push(warning);
        } else {
            self.dropped = self.dropped.saturating_add(1);
        }
    }

    /// The warnings kept, and one more saying how many were dropped.
    fn finish(mut self) -> Vec<String> {
        if self.dropped > 0 {
            self.kept.push(format!(
                "autoit: {} more warnings were left out",
                self.dropped
            ));
        }
        self.kept
    }
}

/// The script text being written, and the blocks open at its end.
#[derive(Default)]
struct Script {
    /// The text so far.
    text: String,
    /// Lines written.
    lines: usize,
    /// The blocks (`Func`, `If`, loops...) open after the last line, innermost last.
    open: Vec<Block>,
}

/// A kind of block that indents the lines inside it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Block {
    /// `Func` ... `EndFunc`.
    Func,
    /// A multi-line `If` ... `EndIf`.
    If,
    /// `While` ... `WEnd`.
    While,
    /// `Do` ... `Until`.
    Do,
    /// `For` ... `Next`.
    For,
    /// `Select` or `Switch`, up to `EndSelect` or `EndSwitch`.
    Select,
    /// One `Case` of a `Select` or `Switch`.
    Case,
    /// `With` ... `EndWith`.
    With,
}

impl Script {
    /// Writes one line; false (and nothing written) when it would pass [`MAX_OUTPUT`].
    fn push_line(&mut self, tokens: &[Token]) -> bool {
        let depth = self.indent(tokens).min(MAX_INDENT);
        let start = self.text.len();
        self.text.extend(std::iter::repeat_n('\t', depth));
        let mut prev: Option<&Token> = None;
        let mut prev_sign = false;
        for (i, token) in tokens.iter().enumerate() {
            let sign = matches!(token, Token::Operator("+" | "-")) && starts_operand(prev);
            // The compiler writes `(-4)` as a unary plus and the literal -4: drop the plus.
            let next = tokens.get(i.saturating_add(1));
            let negative_next = matches!(next, Some(Token::Number(n)) if n.starts_with('-'));
            if sign && negative_next && *token == Token::Operator("+") {
                continue;
            }
            if spaced(prev, prev_sign, token) {
                self.text.push(' ');
            }
            self.text.push_str(token.source());
            if self.text.len() > MAX_OUTPUT.saturating_sub(LINE_END.len()) {
                self.text.truncate(start);
                return false;
            }
            prev = Some(token);
            prev_sign = sign;
        }
        self.text.push_str(LINE_END);
        self.lines = self.lines.saturating_add(1);
        true
    }

    /// The indentation of a line, updating the blocks open after it.
    fn indent(&mut self, tokens: &[Token]) -> usize {
        let mut words = tokens.iter();
        let mut lead = words.next();
        if lead.is_some_and(|t| t.is_keyword("Volatile")) {
            lead = words.next();
        }
        let Some(Token::Keyword(lead)) = lead else {
            return self.open.len();
        };
        let depth = self.open.len();
        let top = self.open.last().copied();
        let opens = match lead.as_str() {
            "Func" => Some(Block::Func),
            "If" if tokens.last().is_some_and(|t| t.is_keyword("Then")) => Some(Block::If),
            "While" => Some(Block::While),
            "Do" => Some(Block::Do),
            "For" => Some(Block::For),
            "Select" | "Switch" => Some(Block::Select),
            "With" => Some(Block::With),
            "Case" if top == Some(Block::Select) => Some(Block::Case),
            _ => None,
        };
        if let Some(block) = opens {
            self.open.push(block);
            return depth;
        }
        let closes = match lead.as_str() {
            "Else" | "ElseIf" if top == Some(Block::If) => return depth.saturating_sub(1),
            "Case" if top == Some(Block::Case) => return depth.saturating_sub(1),
            "EndFunc" => Block::Func,
            "EndIf" => Block::If,
            "WEnd" => Block::While,
            "Until" => Block::Do,
            "Next" => Block::For,
            "EndSelect" | "EndSwitch" => Block::Select,
            "EndWith" => Block::With,
            _ => return depth,
        };
        // Closing a block also closes whatever was left open inside it.
        if let Some(i) = self.open.iter().rposition(|b| *b == closes) {
            self.open.truncate(i);
        }
        self.open.len()
    }
}

/// True when a `+` or `-` after `prev` is a sign rather than a binary operator.
fn starts_operand(prev: Option<&Token>) -> bool {
    match prev {
        None => true,
        Some(Token::Operator(op)) => !matches!(*op, ")" | "]"),
        Some(Token::Keyword(k)) => !matches!(k.as_str(), "True" | "False" | "Default" | "Null"),
        Some(_) => false,
    }
}

/// True when `token` is written with a space after `prev` (`prev_sign`: `prev` is a sign).
fn spaced(prev: Option<&Token>, prev_sign: bool, token: &Token) -> bool {
    let Some(prev) = prev else { return false };
    if prev_sign || matches!(prev, Token::Operator("(" | "[")) {
        return false;
    }
    let callee = matches!(
        prev,
        Token::Builtin(_) | Token::UserFunction(_) | Token::Member(_) | Token::Variable(_)
    );
    let indexable = matches!(
        prev,
        Token::Variable(_) | Token::Macro(_) | Token::Member(_) | Token::Operator(")" | "]")
    );
    match token {
        Token::Operator("," | ")" | "]") => false,
        Token::Operator("(") => !callee,
        Token::Operator("[") | Token::Member(_) => !indexable,
        _ => true,
    }
}

/// The canonical spelling of the keyword `name`, ignoring ASCII case.
fn keyword_case(name: &str) -> Option<&'static str> {
    KEYWORDS
        .iter()
        .copied()
        .find(|k| !k.is_empty() && k.eq_ignore_ascii_case(name))
}

/// The canonical spelling of the built-in function `name`, current or retired, ignoring ASCII
/// case.
fn function_case(name: &str) -> Option<&'static str> {
    let upper = |s: &'static str| s.bytes().map(|b| b.to_ascii_uppercase());
    let wanted = name.bytes().map(|b| b.to_ascii_uppercase());
    match FUNCTIONS.binary_search_by(|f| upper(f).cmp(wanted.clone())) {
        Ok(i) => FUNCTIONS.get(i).copied(),
        Err(_) => RETIRED_FUNCTIONS
            .iter()
            .copied()
            .find(|f| f.eq_ignore_ascii_case(name)),
    }
}

/// The canonical spelling of the macro `name` (without `@`), ignoring ASCII case.
fn macro_case(name: &str) -> Option<&'static str> {
    MACROS
        .iter()
        .copied()
        .find(|m| m.eq_ignore_ascii_case(name))
}

/// Operators by token type, from 0x40.
pub const OPERATORS: [&str; 25] = [
    ",", "=", ">", "<", "<>", ">=", "<=", "(", ")", "+", "-", "/", "*", "&", "[", "]", "==", "^",
    "+=", "-=", "/=", "*=", "&=", "?", ":",
];

/// Keywords by number (token 0x00); number 0 is unused.
#[rustfmt::skip] // Kept packed: one name a line would triple the file.
pub const KEYWORDS: [&str; 45] = [
    "", "And", "Or", "Not", "If", "Then", "Else", "ElseIf", "EndIf", "While", "WEnd", "Do",
    "Until", "For", "Next", "To", "Step", "In", "ExitLoop", "ContinueLoop", "Select", "Case",
    "EndSelect", "Switch", "EndSwitch", "ContinueCase", "Dim", "ReDim", "Local", "Global",
    "Const", "Static", "Func", "EndFunc", "Return", "Exit", "ByRef", "With", "EndWith", "True",
    "False", "Default", "Null", "Volatile", "Enum",
];

/// Built-in functions by number (token 0x01): AutoIt's own order, sorted by upper-case name.
#[rustfmt::skip] // Kept packed: one name a line would triple the file.
pub const FUNCTIONS: [&str; 406] = [
    "Abs", "ACos", "AdlibRegister", "AdlibUnRegister", "Asc", "AscW", "ASin", "Assign", "ATan",
    "AutoItSetOption", "AutoItWinGetTitle", "AutoItWinSetTitle", "Beep", "Binary", "BinaryLen",
    "BinaryMid", "BinaryToString", "BitAND", "BitNOT", "BitOR", "BitRotate", "BitShift",
    "BitXOR", "BlockInput", "Break", "Call", "CDTray", "Ceiling", "Chr", "ChrW", "ClipGet",
    "ClipPut", "ConsoleRead", "ConsoleWrite", "ConsoleWriteError", "ControlClick",
    "ControlCommand", "ControlDisable", "ControlEnable", "ControlFocus", "ControlGetFocus",
    "ControlGetHandle", "ControlGetPos", "ControlGetText", "ControlHide", "ControlListView",
    "ControlMove", "ControlSend", "ControlSetText", "ControlShow", "ControlTreeView", "Cos",
    "Dec", "DirCopy", "DirCreate", "DirGetSize", "DirMove", "DirRemove", "DllCall",
    "DllCallAddress", "DllCallbackFree", "DllCallbackGetPtr", "DllCallbackRegister", "DllClose",
    "DllOpen", "DllStructCreate", "DllStructGetData", "DllStructGetPtr", "DllStructGetSize",
    "DllStructSetData", "DriveGetDrive", "DriveGetFileSystem", "DriveGetLabel",
    "DriveGetSerial", "DriveGetType", "DriveMapAdd", "DriveMapDel", "DriveMapGet",
    "DriveSetLabel", "DriveSpaceFree", "DriveSpaceTotal", "DriveStatus", "DummySpeedTest",
    "EnvGet", "EnvSet", "EnvUpdate", "Eval", "Execute", "Exp", "FileChangeDir", "FileClose",
    "FileCopy", "FileCreateNTFSLink", "FileCreateShortcut", "FileDelete", "FileExists",
    "FileFindFirstFile", "FileFindNextFile", "FileFlush", "FileGetAttrib", "FileGetEncoding",
    "FileGetLongName", "FileGetPos", "FileGetShortcut", "FileGetShortName", "FileGetSize",
    "FileGetTime", "FileGetVersion", "FileInstall", "FileMove", "FileOpen", "FileOpenDialog",
    "FileRead", "FileReadLine", "FileReadToArray", "FileRecycle", "FileRecycleEmpty",
    "FileSaveDialog", "FileSelectFolder", "FileSetAttrib", "FileSetEnd", "FileSetPos",
    "FileSetTime", "FileWrite", "FileWriteLine", "Floor", "FtpSetProxy", "FuncName",
    "GUICreate", "GUICtrlCreateAvi", "GUICtrlCreateButton", "GUICtrlCreateCheckbox",
    "GUICtrlCreateCombo", "GUICtrlCreateContextMenu", "GUICtrlCreateDate",
    "GUICtrlCreateDummy", "GUICtrlCreateEdit", "GUICtrlCreateGraphic", "GUICtrlCreateGroup",
    "GUICtrlCreateIcon", "GUICtrlCreateInput", "GUICtrlCreateLabel", "GUICtrlCreateList",
    "GUICtrlCreateListView", "GUICtrlCreateListViewItem", "GUICtrlCreateMenu",
    "GUICtrlCreateMenuItem", "GUICtrlCreateMonthCal", "GUICtrlCreateObj", "GUICtrlCreatePic",
    "GUICtrlCreateProgress", "GUICtrlCreateRadio", "GUICtrlCreateSlider", "GUICtrlCreateTab",
    "GUICtrlCreateTabItem", "GUICtrlCreateTreeView", "GUICtrlCreateTreeViewItem",
    "GUICtrlCreateUpdown", "GUICtrlDelete", "GUICtrlGetHandle", "GUICtrlGetState",
    "GUICtrlRead", "GUICtrlRecvMsg", "GUICtrlRegisterListViewSort", "GUICtrlSendMsg",
    "GUICtrlSendToDummy", "GUICtrlSetBkColor", "GUICtrlSetColor", "GUICtrlSetCursor",
    "GUICtrlSetData", "GUICtrlSetDefBkColor", "GUICtrlSetDefColor", "GUICtrlSetFont",
    "GUICtrlSetGraphic", "GUICtrlSetImage", "GUICtrlSetLimit", "GUICtrlSetOnEvent",
    "GUICtrlSetPos", "GUICtrlSetResizing", "GUICtrlSetState", "GUICtrlSetStyle",
    "GUICtrlSetTip", "GUIDelete", "GUIGetCursorInfo", "GUIGetMsg", "GUIGetStyle",
    "GUIRegisterMsg", "GUISetAccelerators", "GUISetBkColor", "GUISetCoord", "GUISetCursor",
    "GUISetFont", "GUISetHelp", "GUISetIcon", "GUISetOnEvent", "GUISetState", "GUISetStyle",
    "GUIStartGroup", "GUISwitch", "Hex", "HotKeySet", "HttpSetProxy", "HttpSetUserAgent",
    "HWnd", "InetClose", "InetGet", "InetGetInfo", "InetGetSize", "InetRead", "IniDelete",
    "IniRead", "IniReadSection", "IniReadSectionNames", "IniRenameSection", "IniWrite",
    "IniWriteSection", "InputBox", "Int", "IsAdmin", "IsArray", "IsBinary", "IsBool",
    "IsDeclared", "IsDllStruct", "IsFloat", "IsFunc", "IsHWnd", "IsInt", "IsKeyword", "IsMap",
    "IsNumber", "IsObj", "IsPtr", "IsString", "Log", "MapAppend", "MapExists", "MapKeys",
    "MapRemove", "MemGetStats", "Mod", "MouseClick", "MouseClickDrag", "MouseDown",
    "MouseGetCursor", "MouseGetPos", "MouseMove", "MouseUp", "MouseWheel", "MsgBox", "Number",
    "ObjCreate", "ObjCreateInterface", "ObjEvent", "ObjGet", "ObjName", "OnAutoItExitRegister",
    "OnAutoItExitUnRegister", "Opt", "Ping", "PixelChecksum", "PixelGetColor", "PixelSearch",
    "ProcessClose", "ProcessExists", "ProcessGetStats", "ProcessList", "ProcessSetPriority",
    "ProcessWait", "ProcessWaitClose", "ProgressOff", "ProgressOn", "ProgressSet", "Ptr",
    "Random", "RegDelete", "RegEnumKey", "RegEnumVal", "RegRead", "RegWrite", "Round", "Run",
    "RunAs", "RunAsWait", "RunWait", "Send", "SendKeepActive", "SetError", "SetExtended",
    "ShellExecute", "ShellExecuteWait", "Shutdown", "Sin", "Sleep", "SoundPlay",
    "SoundSetWaveVolume", "SplashImageOn", "SplashOff", "SplashTextOn", "Sqrt", "SRandom",
    "StatusbarGetText", "StderrRead", "StdinWrite", "StdioClose", "StdoutRead", "String",
    "StringAddCR", "StringCompare", "StringFormat", "StringFromASCIIArray", "StringInStr",
    "StringIsAlNum", "StringIsAlpha", "StringIsASCII", "StringIsDigit", "StringIsFloat",
    "StringIsInt", "StringIsLower", "StringIsSpace", "StringIsUpper", "StringIsXDigit",
    "StringLeft", "StringLen", "StringLower", "StringMid", "StringRegExp",
    "StringRegExpReplace", "StringReplace", "StringReverse", "StringRight", "StringSplit",
    "StringStripCR", "StringStripWS", "StringToASCIIArray", "StringToBinary", "StringTrimLeft",
    "StringTrimRight", "StringUpper", "Tan", "TCPAccept", "TCPCloseSocket", "TCPConnect",
    "TCPListen", "TCPNameToIP", "TCPRecv", "TCPSend", "TCPShutdown", "TCPStartup", "TimerDiff",
    "TimerInit", "ToolTip", "TrayCreateItem", "TrayCreateMenu", "TrayGetMsg", "TrayItemDelete",
    "TrayItemGetHandle", "TrayItemGetState", "TrayItemGetText", "TrayItemSetOnEvent",
    "TrayItemSetState", "TrayItemSetText", "TraySetClick", "TraySetIcon", "TraySetOnEvent",
    "TraySetPauseIcon", "TraySetState", "TraySetToolTip", "TrayTip", "UBound", "UDPBind",
    "UDPCloseSocket", "UDPOpen", "UDPRecv", "UDPSend", "UDPShutdown", "UDPStartup",
    "VarGetType", "WinActivate", "WinActive", "WinClose", "WinExists", "WinFlash",
    "WinGetCaretPos", "WinGetClassList", "WinGetClientSize", "WinGetHandle", "WinGetPos",
    "WinGetProcess", "WinGetState", "WinGetText", "WinGetTitle", "WinKill", "WinList",
    "WinMenuSelectItem", "WinMinimizeAll", "WinMinimizeAllUndo", "WinMove", "WinSetOnTop",
    "WinSetState", "WinSetTitle", "WinSetTrans", "WinWait", "WinWaitActive", "WinWaitClose",
    "WinWaitNotActive",
];

/// Built-in functions of older AutoIt versions, absent from [`FUNCTIONS`]; only named by text
/// tokens, so only their case matters.
const RETIRED_FUNCTIONS: [&str; 4] = ["AdlibDisable", "AdlibEnable", "PluginClose", "PluginOpen"];

/// Macros (without `@`) in canonical case; text tokens name them, so order does not matter.
#[rustfmt::skip] // Kept packed: one name a line would triple the file.
const MACROS: [&str; 107] = [
    "AppDataCommonDir", "AppDataDir", "AutoItExe", "AutoItPID", "AutoItUnicode",
    "AutoItVersion", "AutoItX64", "COM_EventObj", "CommonFilesDir", "Compiled", "ComputerName",
    "ComSpec", "CPUArch", "CR", "CRLF", "DesktopCommonDir", "DesktopDepth", "DesktopDir",
    "DesktopHeight", "DesktopRefresh", "DesktopWidth", "DocumentsCommonDir", "error",
    "exitCode", "exitMethod", "extended", "FavoritesCommonDir", "FavoritesDir",
    "GUI_CtrlHandle", "GUI_CtrlId", "GUI_DragFile", "GUI_DragId", "GUI_DropId",
    "GUI_WinHandle", "HomeDrive", "HomePath", "HomeShare", "HotKeyPressed", "HOUR",
    "InetGetActive", "InetGetBytesRead", "IPAddress1", "IPAddress2", "IPAddress3",
    "IPAddress4", "KBLayout", "LF", "LocalAppDataDir", "LogonDNSDomain", "LogonDomain",
    "LogonServer", "MDAY", "MIN", "MON", "MSEC", "MUILang", "MyDocumentsDir", "NumParams",
    "OSArch", "OSBuild", "OSLang", "OSServicePack", "OSType", "OSVersion", "ProcessorArch",
    "ProgramFilesDir", "ProgramsCommonDir", "ProgramsDir", "ScriptDir", "ScriptFullPath",
    "ScriptLineNumber", "ScriptName", "SEC", "StartMenuCommonDir", "StartMenuDir",
    "StartupCommonDir", "StartupDir", "SW_DISABLE", "SW_ENABLE", "SW_HIDE", "SW_LOCK",
    "SW_MAXIMIZE", "SW_MINIMIZE", "SW_RESTORE", "SW_SHOW", "SW_SHOWDEFAULT",
    "SW_SHOWMAXIMIZED", "SW_SHOWMINIMIZED", "SW_SHOWMINNOACTIVE", "SW_SHOWNA",
    "SW_SHOWNOACTIVATE", "SW_SHOWNORMAL", "SW_UNLOCK", "SystemDir", "TAB", "TempDir",
    "TRAY_ID", "TrayIconFlashing", "TrayIconVisible", "Unicode", "UserName", "UserProfileDir",
    "WDAY", "WindowsDir", "WorkingDir", "YDAY", "YEAR",
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::formats::{Budget, Members};

    /// A script of the Debian package clamav-testfiles' compiled AutoIt samples, as our reader
    /// takes it out: `clam.ea06.tokens` (the EA06 token stream) or `clam.ea05.au3` (the EA05
    /// source, UTF-16LE). The samples are read where the package installs them.
    fn testdata(name: &str) -> Vec<u8> {
        let sample = match name {
            "clam.ea06.tokens" => "clam.ea06.exe",
            "clam.ea05.au3" => "clam.ea05.exe",
            _ => panic!("no test script {name}"),
        };
        let path = format!("/usr/share/clamav-testfiles/{sample}");
        let data = std::fs::read(&path).unwrap_or_else(|e| {
            panic!("{path}: {e} (install the Debian package clamav-testfiles; .ci/run does)")
        });
        let mut out = Members::new(Budget::unlimited());
        super::super::autoit::unpack_tokens(&data, &mut out);
        let script = out.members.into_iter().next().expect("the script record");
        assert!(script.name.starts_with("script.au3"), "{}", script.name);
        script.data.into_owned()
    }

    /// The EA05 sample's script as text, its continued lines (`_`) joined.
    fn ea05_lines() -> Vec<String> {
        let raw = testdata("clam.ea05.au3");
        let units: Vec<u16> = raw
            .chunks_exact(2)
            .map(|p| u16::from_le_bytes([p[0], p[1]]))
            .collect();
        let text = String::from_utf16_lossy(&units);
        let mut lines = Vec::new();
        let mut pending = String::new();
        for line in text.trim_start_matches('\u{feff}').lines() {
            let line = line.trim();
            if let Some(head) = line.strip_suffix(" _") {
                pending.push_str(head);
                pending.push(' ');
                continue;
            }
            pending.push_str(line);
            if !pending.is_empty() && !pending.starts_with(';') {
                lines.push(std::mem::take(&mut pending));
            }
            pending.clear();
        }
        lines
    }

    /// A line as compared across compilers: no whitespace, lower case.
    fn squeezed(line: &str) -> String {
        line.chars()
            .filter(|c| !c.is_whitespace())
            .flat_map(char::to_lowercase)
            .collect()
    }

    /// A text token of type `kind`.
    fn text(kind: u8, s: &str) -> Vec<u8> {
        let units: Vec<u16> = s.encode_utf16().collect();
        let n = units.len() as u32;
        let mut out = vec![kind];
        out.extend(n.to_le_bytes());
        for unit in units {
            out.extend((unit ^ n as u16).to_le_bytes());
        }
        out
    }

    /// A token of type `kind` with a 4-byte operand.
    fn word(kind: u8, value: u32) -> Vec<u8> {
        let mut out = vec![kind];
        out.extend(value.to_le_bytes());
        out
    }

    /// A token stream declaring `lines` lines, from its tokens.
    fn stream(lines: u32, tokens: &[Vec<u8>]) -> Vec<u8> {
        let mut out = lines.to_le_bytes().to_vec();
        for token in tokens {
            out.extend(token);
        }
        out
    }

    /// The index of `name` in [`FUNCTIONS`].
    fn function(name: &str) -> u32 {
        FUNCTIONS
            .iter()
            .position(|f| *f == name)
            .expect("known function") as u32
    }

    /// The index of `name` in [`KEYWORDS`].
    fn keyword(name: &str) -> u32 {
        KEYWORDS
            .iter()
            .position(|k| *k == name)
            .expect("known keyword") as u32
    }

    /// The ClamAV test sample reads as the EA05 build of the same script.
    #[test]
    fn sample_reads_like_its_ea05_source() {
        let (script, warnings) = detokenize(&testdata("clam.ea06.tokens")).expect("decodes");
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(script.lines().count(), 331);
        let lines: Vec<&str> = script.lines().map(str::trim).collect();
        for expected in [
            "Func _FILECOUNTLINES($SFILEPATH)",
            "Local $N = FileGetSize($SFILEPATH) - 1",
            "If @error Or $N = -1 Then Return 0",
            "If Not ($IFLAG = 0 Or $IFLAG = 1 Or $IFLAG = 2) Then Return SetError(3, 3, \"\")",
            "$ASFILELIST[UBound($ASFILELIST) - 1] = $SFILE",
            "For $NCOUNT = 1 To $AFILELINES[0] - 1",
            "$TMP = _TEMPFILE(@TempDir, \"clam\", \"exe\")",
            "FileInstall(\"C:\\clam.exe\", $TMP, 1)",
            "RunWait($TMP)",
            "FileDelete($TMP)",
        ] {
            assert!(
                lines.contains(&expected),
                "missing {expected:?} in\n{script}"
            );
        }
        assert!(
            script.contains("\r\n\tLocal $HOPENFILE\r\n"),
            "Func bodies are indented"
        );
        assert!(
            script.contains("\r\n\t\tSetError(1)\r\n"),
            "If bodies are indented"
        );

        let ours: std::collections::HashSet<String> = script.lines().map(squeezed).collect();
        let reference = ea05_lines();
        let missing: Vec<&String> = reference
            .iter()
            .filter(|line| !ours.contains(&squeezed(line)))
            .collect();
        // 320 of 332 match; the others come from a different version of File.au3 compiled in,
        // or are quoted differently ('' for "").
        assert!(
            missing.len() <= 12,
            "{} of {} EA05 lines not found: {missing:#?}",
            missing.len(),
            reference.len()
        );
    }

    /// Numbered tokens index AutoIt's sorted function table, so it must stay sorted.
    #[test]
    fn function_table_is_in_autoit_order() {
        for pair in FUNCTIONS.windows(2) {
            assert!(
                pair[0].to_ascii_uppercase() < pair[1].to_ascii_uppercase(),
                "{} before {}",
                pair[0],
                pair[1]
            );
        }
        // Slots that older ClamAV tables number as UNKNOWN_n, and their neighbours.
        assert_eq!(function("DummySpeedTest"), 82);
        assert_eq!(function("FileClose"), 90);
        assert_eq!(function("IsMap"), 229);
        assert_eq!(function("MapRemove"), 238);
        assert_eq!(function("UDPStartup"), 376);
        assert_eq!(function("WinWaitNotActive"), 405);
        assert_eq!(keyword("Volatile"), 43);
    }

    /// Every token type, spacing, signs, escapes and indentation, on a hand-made stream.
    #[test]
    fn hand_made_stream_gives_exact_text() {
        let line_end = vec![0x7f];
        let op = |o: &str| vec![0x40 + OPERATORS.iter().position(|x| *x == o).unwrap() as u8];
        let mut big = vec![0x10];
        big.extend((-5_000_000_000i64).to_le_bytes());
        let mut half = vec![0x20];
        half.extend(1.5f64.to_le_bytes());
        let tokens = stream(
            13,
            &[
                text(0x37, "NoTrayIcon"),
                line_end.clone(),
                word(0x00, keyword("Func")),
                text(0x34, "ADD"),
                op("("),
                text(0x33, "A"),
                op(","),
                word(0x00, keyword("ByRef")),
                text(0x33, "B"),
                op(")"),
                line_end.clone(),
                text(0x30, "RETURN"),
                text(0x33, "A"),
                op("+"),
                text(0x33, "B"),
                op("*"),
                op("("),
                op("+"),
                word(0x05, (-4i32) as u32),
                op(")"),
                line_end.clone(),
                word(0x00, keyword("EndFunc")),
                line_end.clone(),
                text(0x33, "X"),
                op("="),
                word(0x01, function("MsgBox")),
                op("("),
                word(0x05, 0),
                op(","),
                text(0x36, "say \"hi\""),
                op(","),
                text(0x32, "SCRIPTDIR"),
                op("&"),
                half,
                op(")"),
                line_end.clone(),
                text(0x30, "IF"),
                text(0x33, "X"),
                op("<>"),
                op("-"),
                word(0x05, 1),
                text(0x30, "THEN"),
                line_end.clone(),
                text(0x33, "Y"),
                op("["),
                word(0x05, 2),
                op("]"),
                op("&="),
                big,
                line_end.clone(),
                word(0x00, keyword("Else")),
                line_end.clone(),
                text(0x33, "O"),
                text(0x35, "Visible"),
                op("="),
                word(0x00, keyword("True")),
                line_end.clone(),
                word(0x00, keyword("EndIf")),
                line_end.clone(),
                text(0x31, "STRINGSPLIT"),
                op("("),
                text(0x36, "a,b"),
                op(","),
                text(0x36, ","),
                op(")"),
                op("["),
                word(0x05, 1),
                op("]"),
                line_end.clone(),
                text(0x30, "SWITCH"),
                text(0x33, "X"),
                line_end.clone(),
            ],
        );
        let (script, warnings) = detokenize(&tokens).expect("decodes");
        let expected = [
            "#NoTrayIcon",
            "Func ADD($A, ByRef $B)",
            "\tReturn $A + $B * (-4)",
            "EndFunc",
            "$X = MsgBox(0, \"say \"\"hi\"\"\", @ScriptDir & 1.5)",
            "If $X <> -1 Then",
            "\t$Y[2] &= -5000000000",
            "Else",
            "\t$O.Visible = True",
            "EndIf",
            "StringSplit(\"a,b\", \",\")[1]",
            "Switch $X",
            "",
        ]
        .join("\r\n");
        assert_eq!(script, expected);
        assert_eq!(
            warnings,
            ["autoit: the token stream declares 13 lines but ends after 12"]
        );
    }

    /// Unknown numbers get a placeholder and a warning; the line goes on.
    #[test]
    fn unknown_numbers_are_marked() {
        let tokens = stream(
            1,
            &[word(0x00, 0), word(0x01, 9999), word(0x05, 7), vec![0x7f]],
        );
        let (script, warnings) = detokenize(&tokens).expect("decodes");
        assert_eq!(script, "<keyword 0> <function 9999> 7\r\n");
        assert_eq!(
            warnings,
            [
                "autoit: keyword number 0 at 0x4 is not known",
                "autoit: function number 9999 at 0x9 is not known",
            ]
        );
    }

    /// What cannot be decoded is said in sentences, with the offset.
    #[test]
    fn damage_is_reported() {
        assert_eq!(
            detokenize(&[1, 0]),
            Err("autoit: the token stream is 2 bytes, too short to hold its line count".into())
        );
        assert_eq!(
            detokenize(&stream(1, &[vec![0x99]])),
            Err("autoit: unknown token type 0x99 at 0x4".into())
        );
        let mut cut = stream(2, &[word(0x05, 1), vec![0x7f], text(0x36, "hello")]);
        cut.truncate(cut.len() - 2);
        let (script, warnings) = detokenize(&cut).expect("first line decodes");
        assert_eq!(script, "1\r\n");
        assert_eq!(
            warnings,
            ["autoit: string token at 0xa runs past the end; decoding stopped after line 1 of 2"]
        );
        let mut extra = stream(1, &[word(0x05, 1), vec![0x7f]]);
        extra.extend([0x7f, 0x7f]);
        let (_, warnings) = detokenize(&extra).expect("decodes");
        assert_eq!(
            warnings,
            ["autoit: 2 bytes after the last of the 1 declared lines were not decoded"]
        );
    }

    /// A huge character count is refused without allocating for it.
    #[test]
    fn huge_counts_are_refused() {
        for count in [u32::MAX, 0x8000_0000, 0x7fff_ffff] {
            let tokens = stream(u32::MAX, &[word(0x33, count), vec![0x7f]]);
            assert!(detokenize(&tokens).is_err());
        }
        let (_, warnings) = detokenize(&stream(u32::MAX, &[vec![0x7f]])).expect("decodes");
        assert_eq!(warnings.len(), 1);
    }

    /// The text stops at whole lines before [`MAX_OUTPUT`], with a warning.
    #[test]
    fn text_is_capped() {
        let name = word(0x01, function("GUICtrlRegisterListViewSort"));
        let mut line = Vec::new();
        for _ in 0..1000 {
            line.extend(&name);
        }
        line.push(0x7f);
        let lines = MAX_OUTPUT / (1000 * 28) + 2;
        let mut tokens = (lines as u32).to_le_bytes().to_vec();
        for _ in 0..lines {
            tokens.extend(&line);
        }
        let (script, warnings) = detokenize(&tokens).expect("decodes");
        assert!(script.len() <= MAX_OUTPUT && script.len() > MAX_OUTPUT - 30_000);
        assert!(script.ends_with(LINE_END));
        let lines_written = script.lines().count();
        assert_eq!(
            warnings,
            [format!(
                "autoit: the script text reached its cap of 64 MiB after line {lines_written}; \
                 the rest was not decoded"
            )]
        );
    }

    /// Every truncation of the sample decodes or fails cleanly, and never panics.
    #[test]
    fn truncations_never_panic() {
        let sample = testdata("clam.ea06.tokens");
        for len in 0..sample.len() {
            let _ = detokenize(&sample[..len]);
        }
    }

    /// Deterministic single-byte corruptions of the sample never panic.
    #[test]
    fn corruptions_never_panic() {
        let sample = testdata("clam.ea06.tokens");
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) as usize
        };
        for _ in 0..3000 {
            let mut bad = sample.clone();
            let at = next() % bad.len();
            bad[at] = next() as u8;
            if let Ok((script, warnings)) = detokenize(&bad) {
                assert!(script.len() <= MAX_OUTPUT);
                assert!(warnings.len() <= MAX_WARNINGS + 1);
            }
        }
    }
}
