//! Arbitrary bytes as the `--config FILE` of `kaudit watch cloudwatch` and `kaudit watch
//! webhook` (`kaudit_cli::check_config`: YAML, keys, each value through its flag's parser,
//! output mappings, then the merged command line). Nothing may panic, and every error in the
//! file names it and a line of it: `FILE:LINE: …` with LINE within the text (an error at the
//! end of the text names its last line).

const FILE: &str = "kaudit.yaml";

/// Runs the target over `data`.
///
/// # Panics
/// When an invariant of the module documentation breaks.
pub fn run(data: &[u8]) {
    // A file that is not UTF-8 is refused when read, before any parsing.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Lines as YAML counts them: `\r\n`, `\n` and a lone `\r` each end one.
    let lines = text
        .replace("\r\n", "\n")
        .replace('\r', "\n")
        .lines()
        .count()
        .max(1);
    for command in ["cloudwatch", "webhook"] {
        let Err(msg) = kaudit_cli::check_config(command, FILE, text) else {
            continue;
        };
        let place = msg
            .strip_prefix(FILE)
            .and_then(|m| m.strip_prefix(':'))
            .and_then(|m| m.split_once(": "))
            .and_then(|(line, _)| line.parse::<usize>().ok());
        match place {
            Some(line) => assert!(
                (1..=lines).contains(&line),
                "line {line} is outside the file ({lines} lines): {msg}"
            ),
            None => panic!("a config error without FILE:LINE: {msg:?}"),
        }
    }
}
