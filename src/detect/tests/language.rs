//! Detection-language tests: structures, wildcards and escapes, special values, every modifier.

use serde_json::json;

use super::{det, m, rules_with};
use crate::detect::{LoadOptions, compile_str};

#[test]
fn maps_are_and_lists_are_or() {
    let rs = det(
        "    sel:\n        EventLog: Security\n        EventID:\n            - 517\n            - 1102\n    condition: sel",
    );
    assert!(m(&rs, json!({"EventLog": "Security", "EventID": 517})));
    assert!(m(&rs, json!({"EventLog": "security", "EventID": "1102"})));
    assert!(!m(&rs, json!({"EventLog": "Security", "EventID": 4624})));
    assert!(!m(&rs, json!({"EventID": 517})));
}

#[test]
fn list_of_maps_is_or_of_ands() {
    let rs = det(
        "    sel:\n        - Image|endswith: '\\example.exe'\n        - Description|contains: 'Test executable'\n    condition: sel",
    );
    assert!(m(&rs, json!({"Image": "C:\\x\\Example.exe"})));
    assert!(m(&rs, json!({"Description": "a test executable b"})));
    assert!(!m(
        &rs,
        json!({"Image": "C:\\x\\other.exe", "Description": "nope"})
    ));
}

#[test]
fn keywords_any_and_all() {
    let rs = det(
        "    keywords:\n        - 'event::clear'\n        - 'event::drop'\n    condition: keywords",
    );
    assert!(m(&rs, json!({"CommandLine": "mimikatz EVENT::Clear now"})));
    assert!(m(&rs, json!({"nested": {"deep": ["x", "event::drop"]}})));
    assert!(!m(&rs, json!({"CommandLine": "event::list"})));
    let all = det(
        "    keywords:\n        '|all':\n            - 'OabVirtualDirectory'\n            - ' -ExternalUrl '\n    condition: keywords",
    );
    assert!(m(
        &all,
        json!({"a": "Set-OabVirtualDirectory -ExternalUrl http://x"})
    ));
    assert!(m(
        &all,
        json!({"a": "OabVirtualDirectory", "b": "x -externalurl y"})
    ));
    assert!(!m(&all, json!({"a": "OabVirtualDirectory"})));
}

#[test]
fn keywords_search_raw_text_and_numbers() {
    let rs =
        det("    keywords:\n        - 'failed password'\n        - 4625\n    condition: keywords");
    let mut e = super::ev(json!({}));
    e.raw = Some("sshd[1]: Failed password for root".into());
    assert!(!super::hit_ids(&rs, &e).is_empty());
    assert!(m(&rs, json!({"EventID": 4625})));
}

#[test]
fn case_insensitive_by_default() {
    let rs = det("    sel:\n        Image: 'C:\\Windows\\System32\\CMD.exe'\n    condition: sel");
    assert!(m(&rs, json!({"Image": "c:\\windows\\system32\\cmd.EXE"})));
    assert!(!m(&rs, json!({"Image": "c:\\windows\\system32\\cmd.exe2"})));
}

#[test]
fn wildcards_star_and_question() {
    let rs = det(
        "    sel:\n        Image: 'prog?.exe'\n        Path: 'antivirus_V*.exe'\n    condition: sel",
    );
    assert!(m(
        &rs,
        json!({"Image": "progA.exe", "Path": "antivirus_V21.2.1.exe"})
    ));
    assert!(!m(
        &rs,
        json!({"Image": "progAB.exe", "Path": "antivirus_V1.exe"})
    ));
    assert!(!m(
        &rs,
        json!({"Image": "prog.exe", "Path": "antivirus_V1.exe"})
    ));
    let inner = det("    sel:\n        CommandLine|contains: 'a*b?c'\n    condition: sel");
    assert!(m(&inner, json!({"CommandLine": "xxAzzzBxCyy"})));
    assert!(!m(&inner, json!({"CommandLine": "xxAzzzBCyy"})));
}

#[test]
fn escapes_follow_the_spec() {
    // \* and \? are plain characters
    let rs = det("    sel:\n        F: 'a\\*b\\?'\n    condition: sel");
    assert!(m(&rs, json!({"F": "a*b?"})));
    assert!(!m(&rs, json!({"F": "axxbz"})));
    // \\* is a backslash followed by a wildcard
    let rs = det("    sel:\n        F: 'dir\\\\*'\n    condition: sel");
    assert!(m(&rs, json!({"F": "dir\\anything"})));
    assert!(!m(&rs, json!({"F": "dirX"})));
    // \\\* is a backslash followed by a plain star
    let rs = det("    sel:\n        F: 'dir\\\\\\*'\n    condition: sel");
    assert!(m(&rs, json!({"F": "dir\\*"})));
    assert!(!m(&rs, json!({"F": "dir\\abc"})));
    // \\\\ is a plain double backslash; a single \ before a normal char is literal
    let rs = det("    sel:\n        F: '\\\\\\\\srv\\share'\n    condition: sel");
    assert!(m(&rs, json!({"F": "\\\\srv\\share"})));
    assert!(!m(&rs, json!({"F": "\\srv\\share"})));
}

#[test]
fn null_and_empty_values() {
    let rs = det(
        "    sel:\n        EventID: 4738\n    filter:\n        PasswordLastSet: null\n    condition: sel and not filter",
    );
    assert!(m(&rs, json!({"EventID": 4738, "PasswordLastSet": "x"})));
    assert!(!m(&rs, json!({"EventID": 4738})));
    assert!(!m(&rs, json!({"EventID": 4738, "PasswordLastSet": null})));
    let empty = det("    sel:\n        FieldB: ''\n    condition: sel");
    assert!(m(&empty, json!({"FieldB": ""})));
    assert!(!m(&empty, json!({"FieldB": "x"})));
    assert!(!m(&empty, json!({})));
}

#[test]
fn numbers_booleans_and_nested_fields() {
    let rs = det(
        "    sel:\n        EventID: 4624\n        Flag: true\n        userIdentity.sessionContext.mfa: 'false'\n    condition: sel",
    );
    assert!(m(
        &rs,
        json!({"EventID": "4624", "Flag": true, "userIdentity": {"sessionContext": {"mfa": false}}})
    ));
    assert!(m(
        &rs,
        json!({"EventID": 4624, "Flag": "True", "userIdentity.sessionContext.mfa": "false"})
    ));
    assert!(!m(
        &rs,
        json!({"EventID": 4624, "Flag": false, "userIdentity": {"sessionContext": {"mfa": false}}})
    ));
    let arr = det("    sel:\n        Tags: 'b'\n    condition: sel");
    assert!(m(&arr, json!({"Tags": ["a", "b"]})));
}

#[test]
fn contains_startswith_endswith() {
    let rs = det(
        "    a:\n        F|contains: 'mid'\n    b:\n        G|startswith: 'pre'\n    c:\n        H|endswith: 'suf'\n    condition: a and b and c",
    );
    assert!(m(&rs, json!({"F": "xMIDx", "G": "PREfix", "H": "xSUF"})));
    assert!(!m(&rs, json!({"F": "xMIDx", "G": "xpre", "H": "xSUF"})));
    assert!(!m(&rs, json!({"F": "xMIDx", "G": "pre", "H": "sufx"})));
}

#[test]
fn all_modifier() {
    let rs = det(
        "    sel:\n        CommandLine|contains|all:\n            - ' -a '\n            - ' -b '\n    condition: sel",
    );
    assert!(m(&rs, json!({"CommandLine": "x -b  -a y"})));
    assert!(!m(&rs, json!({"CommandLine": "x -a y"})));
}

#[test]
fn exists_modifier() {
    let rs = det(
        "    sel:\n        EventID: 4738\n        PasswordLastSet|exists: true\n    condition: sel",
    );
    assert!(m(&rs, json!({"EventID": 4738, "PasswordLastSet": null})));
    assert!(m(&rs, json!({"EventID": 4738, "PasswordLastSet": ""})));
    assert!(!m(&rs, json!({"EventID": 4738})));
    let not = det("    sel:\n        X|exists: false\n    condition: sel");
    assert!(m(&not, json!({"Y": 1})));
    assert!(!m(&not, json!({"X": 1})));
}

#[test]
fn cased_modifier() {
    let rs = det("    sel:\n        F|cased|contains: 'Evil'\n    condition: sel");
    assert!(m(&rs, json!({"F": "xEvilx"})));
    assert!(!m(&rs, json!({"F": "xevilx"})));
}

#[test]
fn neq_modifier() {
    let rs = det(
        "    sel:\n        User|neq:\n            - 'SYSTEM'\n            - 'LOCAL SERVICE'\n    condition: sel",
    );
    assert!(m(&rs, json!({"User": "alice"})));
    assert!(!m(&rs, json!({"User": "system"})));
    assert!(!m(&rs, json!({"User": "local service"})));
    let num = det("    sel:\n        Port|neq: 443\n    condition: sel");
    assert!(m(&num, json!({"Port": 80})));
    assert!(!m(&num, json!({"Port": 443})));
}

#[test]
fn windash_all_five_dashes() {
    let rs = det("    sel:\n        CommandLine|windash|contains: ' -exec '\n    condition: sel");
    for d in ['-', '/', '\u{2013}', '\u{2014}', '\u{2015}'] {
        assert!(
            m(&rs, json!({"CommandLine": format!("x {d}exec y")})),
            "dash {d}"
        );
    }
    assert!(!m(&rs, json!({"CommandLine": "x +exec y"})));
    let two = det("    sel:\n        CommandLine|windash|contains: '-a -b'\n    condition: sel");
    assert!(m(&two, json!({"CommandLine": "tool /a \u{2014}b"})));
}

#[test]
fn regex_and_flags() {
    let rs = det("    sel:\n        F|re: '^ab+c$'\n    condition: sel");
    assert!(m(&rs, json!({"F": "abbbc"})));
    assert!(
        !m(&rs, json!({"F": "ABBC"})),
        "regex is case-sensitive by default"
    );
    let i = det("    sel:\n        F|re|i: '^ab+c$'\n    condition: sel");
    assert!(m(&i, json!({"F": "ABBC"})));
    let ml = det("    sel:\n        F|re|m: '^second$'\n    condition: sel");
    assert!(m(&ml, json!({"F": "first\nsecond\nthird"})));
    let plain = det("    sel:\n        F|re: '^second$'\n    condition: sel");
    assert!(!m(&plain, json!({"F": "first\nsecond\nthird"})));
    let s = det("    sel:\n        F|re|s: 'a.b'\n    condition: sel");
    assert!(m(&s, json!({"F": "a\nb"})));
    assert!(!m(&plain_dot(), json!({"F": "a\nb"})));
}

fn plain_dot() -> crate::detect::RuleSet {
    det("    sel:\n        F|re: 'a.b'\n    condition: sel")
}

#[test]
fn base64_and_base64offset() {
    let rs = det("    sel:\n        F|base64|contains: 'http://'\n    condition: sel");
    assert!(m(&rs, json!({"F": "xx aHR0cDovLw== yy"})));
    let off = det("    sel:\n        F|base64offset|contains: 'http://'\n    condition: sel");
    // "http://" encoded at offsets 0, 1 and 2 inside longer strings
    for plain in ["http://x", "ahttp://x", "abhttp://x"] {
        use base64::Engine as _;
        let enc = base64::engine::general_purpose::STANDARD.encode(plain);
        assert!(m(&off, json!({"F": enc})), "offset variant of {plain}");
    }
    assert!(!m(&off, json!({"F": "aGVsbG8gd29ybGQ="})));
}

#[test]
fn utf16_modifiers() {
    use base64::Engine as _;
    let eng = base64::engine::general_purpose::STANDARD;
    let wide: Vec<u8> = "ping"
        .encode_utf16()
        .flat_map(|u| u.to_le_bytes())
        .collect();
    let rs = det("    sel:\n        F|wide|base64offset|contains: 'ping'\n    condition: sel");
    assert!(m(&rs, json!({"F": eng.encode(&wide)})));
    let le = det("    sel:\n        F|utf16le|base64: 'cmd'\n    condition: sel");
    assert!(m(
        &le,
        json!({"F": eng.encode([0x63, 0, 0x6d, 0, 0x64, 0])})
    ));
    let be = det("    sel:\n        F|utf16be|base64: 'cmd'\n    condition: sel");
    assert!(m(
        &be,
        json!({"F": eng.encode([0, 0x63, 0, 0x6d, 0, 0x64])})
    ));
    let bom = det("    sel:\n        F|utf16|base64: 'cmd'\n    condition: sel");
    assert!(m(
        &bom,
        json!({"F": eng.encode([0xFF, 0xFE, 0x63, 0, 0x6d, 0, 0x64, 0])})
    ));
    let plain = det("    sel:\n        F|utf16le|contains: 'ab'\n    condition: sel");
    assert!(m(&plain, json!({"F": "xa\u{0}b\u{0}y"})));
}

#[test]
fn numeric_comparisons() {
    let rs = det("    a:\n        N|gt: 10\n    b:\n        N|lte: 20\n    condition: a and b");
    assert!(m(&rs, json!({"N": 15})));
    assert!(m(&rs, json!({"N": "20"})));
    assert!(!m(&rs, json!({"N": "10"})));
    assert!(!m(&rs, json!({"N": 21})));
    assert!(!m(&rs, json!({"N": "abc"})));
    let lt = det("    a:\n        N|lt: 1.5\n    b:\n        N|gte: 0\n    condition: a and b");
    assert!(m(&lt, json!({"N": 1.25})));
    assert!(!m(&lt, json!({"N": 1.5})));
    assert!(!m(&lt, json!({"N": -1})));
}

#[test]
fn time_part_modifiers() {
    let f = json!({"T": "2024-03-05T23:45:10Z"});
    for (part, val) in [
        ("minute", 45),
        ("hour", 23),
        ("day", 5),
        ("week", 10),
        ("month", 3),
        ("year", 2024),
    ] {
        let rs = det(&format!(
            "    sel:\n        T|{part}: {val}\n    condition: sel"
        ));
        assert!(m(&rs, f.clone()), "{part}");
        let no = det(&format!(
            "    sel:\n        T|{part}: {}\n    condition: sel",
            val + 1
        ));
        assert!(!m(&no, f.clone()), "{part} negative");
    }
    let range = det("    sel:\n        T|hour|gte: 22\n    condition: sel");
    assert!(m(&range, json!({"T": "2024-03-05 22:00:00.000"})));
    assert!(!m(&range, json!({"T": "2024-03-05 21:59:59"})));
}

#[test]
fn cidr_v4_and_v6() {
    let rs = det(
        "    sel:\n        DestinationIp|cidr:\n            - '10.0.0.0/8'\n            - 'fe80::/10'\n    condition: sel",
    );
    assert!(m(&rs, json!({"DestinationIp": "10.1.2.3"})));
    assert!(m(&rs, json!({"DestinationIp": "FE80::1"})));
    assert!(!m(&rs, json!({"DestinationIp": "11.0.0.1"})));
    assert!(!m(&rs, json!({"DestinationIp": "2001:db8::1"})));
    assert!(!m(&rs, json!({"DestinationIp": "not-an-ip"})));
}

#[test]
fn cidr_ipv6_networks_match_ipv4_values_through_the_mapped_form() {
    let rs = det("    sel:\n        DestinationIp|cidr: '::ffff:10.0.0.0/104'\n    condition: sel");
    assert!(m(&rs, json!({"DestinationIp": "10.1.2.3"})));
    assert!(m(&rs, json!({"DestinationIp": " ::ffff:10.9.9.9 "})));
    assert!(!m(&rs, json!({"DestinationIp": "11.0.0.1"})));
    // An IPv4 network does not match an IPv6 value, mapped or not.
    let rs = det("    sel:\n        DestinationIp|cidr: '10.1.2.3/8'\n    condition: sel");
    assert!(m(&rs, json!({"DestinationIp": "10.200.0.1"})));
    assert!(!m(&rs, json!({"DestinationIp": "::ffff:10.0.0.1"})));
}

#[test]
fn expand_placeholders() {
    let mut opts = LoadOptions::default();
    opts.placeholders
        .insert("Admins".into(), vec!["adm_*".into(), "root".into()]);
    let yaml = "title: t\nid: r1\nlogsource:\n    product: test\ndetection:\n    sel:\n        User|expand: '%Admins%'\n    lit:\n        Cmd|contains: '%temp%'\n    condition: sel and lit\n";
    let rs = rules_with(yaml, &opts);
    assert!(m(&rs, json!({"User": "ADM_bob", "Cmd": "copy %TEMP%\\x"})));
    assert!(m(&rs, json!({"User": "root", "Cmd": "%temp%"})));
    assert!(!m(&rs, json!({"User": "bob", "Cmd": "%temp%"})));
    let esc = "title: t\nid: r2\nlogsource:\n    product: test\ndetection:\n    sel:\n        F|expand: '\\%plain%Admins%'\n    condition: sel\n";
    let rs = rules_with(esc, &opts);
    assert!(m(&rs, json!({"F": "%plainroot"})));
    // A placeholder without values rejects the rule with that reason.
    let rep = compile_str(yaml, &LoadOptions::default());
    assert_eq!(rep.rules.len(), 0);
    assert_eq!(rep.rejected.len(), 1);
    assert!(
        rep.rejected[0]
            .reason
            .contains("placeholder %Admins% has no values"),
        "{}",
        rep.rejected[0]
    );
    assert_eq!(rep.rejected[0].id.as_deref(), Some("r1"));
}

#[test]
fn fieldref_and_neq() {
    let rs = det("    sel:\n        TargetFilename|fieldref: Image\n    condition: sel");
    assert!(m(
        &rs,
        json!({"TargetFilename": "C:\\a.exe", "Image": "c:\\A.exe"})
    ));
    assert!(!m(
        &rs,
        json!({"TargetFilename": "C:\\a.exe", "Image": "C:\\b.exe"})
    ));
    assert!(!m(&rs, json!({"TargetFilename": "C:\\a.exe"})));
    let neq = det("    sel:\n        User|fieldref|neq: ParentUser\n    condition: sel");
    assert!(m(&neq, json!({"User": "a", "ParentUser": "b"})));
    assert!(!m(&neq, json!({"User": "a", "ParentUser": "A"})));
}

#[test]
fn chained_modifiers_apply_in_order() {
    // contains then windash: stars are added first, dashes are then permuted
    let rs = det("    sel:\n        CommandLine|contains|windash: '-enc'\n    condition: sel");
    assert!(m(&rs, json!({"CommandLine": "powershell /enc AAA"})));
    // base64offset then contains: encoded variants are searched as substrings
    let b = det("    sel:\n        F|base64offset|contains: 'IEX'\n    condition: sel");
    use base64::Engine as _;
    let enc = base64::engine::general_purpose::STANDARD.encode("abc IEX (new-object)");
    assert!(m(&b, json!({"F": format!("-e {enc}")})));
}

#[test]
fn condition_forms_end_to_end() {
    let rs = det(
        "    selection_a:\n        A: 1\n    selection_b:\n        B: 1\n    filter_x:\n        X: 1\n    _hidden:\n        H: 1\n    condition: 1 of selection_* and not 1 of filter_*",
    );
    assert!(m(&rs, json!({"B": 1})));
    assert!(!m(&rs, json!({"B": 1, "X": 1})));
    let them = det(
        "    a:\n        A: 1\n    b:\n        B: 1\n    _h:\n        H: 1\n    condition: all of them",
    );
    assert!(m(&them, json!({"A": 1, "B": 1})));
    assert!(!m(&them, json!({"A": 1, "H": 1})));
    let two = det(
        "    a:\n        A: 1\n    b:\n        B: 1\n    c:\n        C: 1\n    condition: 2 of them",
    );
    assert!(m(&two, json!({"A": 1, "C": 1})));
    assert!(!m(&two, json!({"A": 1})));
    let list =
        det("    a:\n        A: 1\n    b:\n        B: 1\n    condition:\n        - a\n        - b");
    assert!(m(&list, json!({"B": 1})));
}

#[test]
fn bad_rules_are_rejected_with_reasons() {
    let bad = [
        (
            "    sel:\n        F|nosuchmod: x\n    condition: sel",
            "unknown modifier",
        ),
        (
            "    sel:\n        F: x\n    condition: sel | count() > 5",
            "aggregation",
        ),
        (
            "    sel:\n        F: x\n    condition: other",
            "unknown search identifier",
        ),
        (
            "    sel:\n        F|re: '(unclosed'\n    condition: sel",
            "bad regex",
        ),
        (
            "    sel:\n        F|cidr: '10.0.0.0/99'\n    condition: sel",
            "bad cidr",
        ),
        ("    sel:\n        F|gt: abc\n    condition: sel", "numeric"),
        ("    sel:\n        F: x", "no condition"),
    ];
    for (body, why) in bad {
        let rep = compile_str(
            &format!("title: t\nid: bad\nlogsource:\n    product: x\ndetection:\n{body}\n"),
            &LoadOptions::default(),
        );
        assert_eq!(rep.rejected.len(), 1, "{body}");
        let msg = rep.rejected[0].to_string();
        assert!(msg.contains(why), "{msg} should mention {why}");
        assert!(msg.starts_with("<inline>: bad: "), "{msg}");
    }
}

#[test]
fn large_value_lists_use_sets_correctly() {
    let rs = det(
        "    sel:\n        F:\n            - '*end1'\n            - '*end2'\n            - 'start1*'\n            - 'start2*'\n            - '*mid1*'\n            - '*mid2*'\n            - 'exact1'\n            - 'Exact2'\n            - 'a?c'\n            - 'x*y*z'\n            - ''\n    condition: sel",
    );
    assert!(
        rs.dets[0].det.selections[0].alts[0][0].fast.is_some(),
        "list should be accelerated"
    );
    let cases = [
        ("fooEND1", true),
        ("end1foo", false),
        ("START2bar", true),
        ("barstart2", false),
        ("xxMID1yy", true),
        ("exact1", true),
        ("EXACT2", true),
        ("exact2x", false),
        ("abc", true),
        ("abbc", false),
        ("x1y2z", true),
        ("", true),
        ("nothing", false),
        ("end1", true),
        ("start1", true),
    ];
    for (v, want) in cases {
        assert_eq!(m(&rs, json!({"F": v})), want, "{v:?}");
    }
    assert!(!m(&rs, json!({"G": "exact1"})));
}

#[test]
fn all_with_expanding_modifiers_needs_each_value_not_each_variant() {
    // contains|all|windash: every value must appear in some dash form.
    let rs = det(
        "    sel:\n        CommandLine|contains|all|windash:\n            - ' -a '\n            - ' -b '\n    condition: sel",
    );
    assert!(m(&rs, json!({"CommandLine": "x /a  \u{2013}b y"})));
    assert!(!m(&rs, json!({"CommandLine": "x /a  -c y"})));
    // base64offset|contains|all: each value in any of its three offsets.
    use base64::Engine as _;
    let b = det(
        "    sel:\n        F|base64offset|contains|all:\n            - 'alpha'\n            - 'omega'\n    condition: sel",
    );
    let enc = base64::engine::general_purpose::STANDARD.encode("x alpha and omega");
    assert!(m(&b, json!({"F": enc})));
    let enc = base64::engine::general_purpose::STANDARD.encode("x alpha only");
    assert!(!m(&b, json!({"F": enc})));
}

#[test]
fn field_names_match_log_names_with_spaces_stripped() {
    // Spec "Field Usage": rule field names are the log's names with all spaces stripped
    // (Windows Defender's `Source Name`, `Threat Name`).
    let rs = det(
        "    sel:\n        SourceName: 'Real-Time Protection'\n        ThreatName|endswith: 'EICAR_Test_File'\n    condition: sel",
    );
    assert!(m(
        &rs,
        json!({"Source Name": "Real-Time Protection", "Threat Name": "Virus:DOS/EICAR_Test_File"})
    ));
    assert!(m(
        &rs,
        json!({"SourceName": "Real-Time Protection", "Threat Name": "x EICAR_Test_File"})
    ));
    assert!(!m(
        &rs,
        json!({"Source Name": "Real-Time Protection", "Threat Name": "other"})
    ));
    assert!(!m(&rs, json!({"Source Name": "Real-Time Protection"})));
}

#[test]
fn index_clauses_and_regex_literals_keep_every_match() {
    // Two necessary clauses (a generic exact value and a specific suffix): both must hit.
    let rs = det(
        "    sel:\n        Initiated: 'true'\n        DestinationHostname|endswith:\n            - '.argotunnel.com'\n            - 'trycloudflare.com'\n    condition: sel",
    );
    assert!(m(
        &rs,
        json!({"Initiated": "true", "DestinationHostname": "x.TryCloudflare.com"})
    ));
    assert!(!m(
        &rs,
        json!({"Initiated": "true", "DestinationHostname": "example.com"})
    ));
    assert!(!m(
        &rs,
        json!({"Initiated": "false", "DestinationHostname": "a.argotunnel.com"})
    ));
    // `|all` groups are clauses of their own; an OR of selections is one clause.
    let all = det(
        "    a:\n        F|contains|all:\n            - 'alpha'\n            - 'omega'\n    b:\n        G|re: 'x\\d+y'\n    condition: a or b",
    );
    assert!(m(&all, json!({"F": "ALPHA and omega"})));
    assert!(!m(&all, json!({"F": "alpha only"})));
    assert!(m(&all, json!({"G": "x12y"})));
    assert!(!m(&all, json!({"G": "x y"})));
    // Regex literals are lowered char-wise and break where case folding is not a lowering:
    // (?i)s also matches the long s, which lowers to itself.
    let re = det("    sel:\n        F|re|i: 'sys\\w+32'\n    condition: sel");
    assert!(m(&re, json!({"F": "C:\\Windows\\\u{17f}y\u{17f}tem32"})));
    assert!(m(&re, json!({"F": "SYSWOW32"})));
    assert!(!m(&re, json!({"F": "sys 32"})));
    let k = det("    sel:\n        F|re|i: 'kelvin'\n    condition: sel");
    assert!(m(&k, json!({"F": "\u{212a}ELVIN"})));
}

#[test]
fn aliases_resolve_in_spec_order() {
    // process_creation maps Image to [Image, NewProcessName]: the first present name wins.
    let rs = super::rules(
        "title: t\nid: r1\nlogsource:\n    category: process_creation\n    product: windows\ndetection:\n    sel:\n        Image|endswith: '\\cmd.exe'\n    condition: sel\n",
    );
    let pc = |fields| {
        !super::hit_ids(
            &rs,
            &super::event_at((Some("windows"), Some("process_creation"), None), fields, 0),
        )
        .is_empty()
    };
    assert!(pc(json!({"NewProcessName": "C:\\cmd.exe"})));
    assert!(pc(json!({"Image": "C:\\cmd.exe", "NewProcessName": "x"})));
    assert!(!pc(json!({"NewProcessName": "C:\\cmd.exe", "Image": "x"})));
    // A dotted name resolves as a flat key first, then by descent.
    let d = det("    sel:\n        a.b: 'v'\n    condition: sel");
    assert!(m(&d, json!({"a.b": "v", "a": {"b": "w"}})));
    assert!(!m(&d, json!({"a.b": "w", "a": {"b": "v"}})));
    assert!(m(&d, json!({"a": {"b": "v"}})));
}
