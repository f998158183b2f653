//! `write_json_str` (the JSON string escaper of output templates and alerts, which skips plain
//! bytes eight at a time) against serde_json's escaper, with every byte that needs escaping at
//! every position of strings up to 24 bytes long, next to ASCII and multi-byte characters.

use kaudit_rules::internal::write_json_str;

#[test]
fn escapes_like_serde_at_every_position() {
    let specials = [
        '"', '\\', '\n', '\r', '\t', '\u{8}', '\u{c}', '\0', '\u{1f}', '\u{7f}',
    ];
    let fillers = ["a", "é", "😀", "\u{80}"];
    let mut checked = 0;
    for len in 0..24 {
        for pos in 0..=len {
            for special in specials {
                for filler in fillers {
                    let mut s = String::new();
                    for i in 0..len {
                        if i == pos {
                            s.push(special);
                        } else {
                            s.push_str(filler);
                        }
                    }
                    // A second special near the end, so the word after a hit is checked too.
                    if len > 3 {
                        s.push(specials[len % specials.len()]);
                    }
                    let mut out = String::from("x");
                    write_json_str(&mut out, &s);
                    let want = serde_json::to_string(&s).expect("a string serializes");
                    assert_eq!(&out[1..], want, "{s:?}");
                    checked += 1;
                }
            }
        }
    }
    assert_eq!(checked, 12_000);
}
