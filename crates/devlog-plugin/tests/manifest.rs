//! Manifests, the workspace policy, discovery and the scaffold: no WebAssembly needed.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::path::Path;

use devlog_plugin::discovery::{self, DisabledList, PluginDirs};
use devlog_plugin::{Manifest, PluginError, Policy};

const GOOD: &str = r#"
name = "webhook-tracker"
version = "0.2.1"
api = "1.0"
description = "Syncs with a webhook tracker"
author = "Jane"
license = "MIT"
component = "tracker.wasm"

[capabilities]
http = ["tracker.example.com", "127.0.0.1:8080"]
kv = true

[provides]
integration = true
actions = ["close-stale"]

[limits]
fuel = 5_000_000
memory-mb = 32
timeout-ms = 1_000
host-calls = 10
response-kb = 64

[config-schema]
type = "object"
required = ["url"]
properties.url = { type = "string" }
"#;

fn parse(text: &str) -> Result<Manifest, PluginError> {
    Manifest::parse(text, Path::new("/p/devlog-plugin.toml"))
}

/// The manifest error's key, checking it names the file.
fn key_of(text: &str) -> (String, String) {
    match parse(text).unwrap_err() {
        PluginError::Manifest { file, key, message } => {
            assert_eq!(file, Path::new("/p/devlog-plugin.toml"));
            (key, message)
        }
        other => panic!("not a manifest error: {other:?}"),
    }
}

#[test]
fn a_good_manifest_reads_back_every_field() {
    let m = parse(GOOD).unwrap();
    assert_eq!(m.name, "webhook-tracker");
    assert_eq!(
        m.capabilities.http,
        ["tracker.example.com", "127.0.0.1:8080"]
    );
    assert!(m.capabilities.kv && m.provides.integration);
    assert_eq!(m.provides.actions, ["close-stale"]);
    assert_eq!(m.limits.fuel, 5_000_000);
    assert_eq!(m.limits.host_calls, 10);
    assert_eq!(m.config_schema_json()["required"][0], "url");
    assert!(m.check_config(&serde_json::json!({"url": "x"})).is_ok());
    let e = m.check_config(&serde_json::json!({"url": 3})).unwrap_err();
    assert!(e.contains("/url"), "{e}");
}

#[test]
fn errors_name_the_file_and_the_key() {
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "name = \"webhook-tracker\"",
            "name = \"Bad Name\"",
            "name",
            "not a plugin name",
        ),
        ("api = \"1.0\"", "api = \"2.0\"", "api", "not supported"),
        (
            "api = \"1.0\"",
            "api = \"one\"",
            "api",
            "not an API version",
        ),
        (
            "version = \"0.2.1\"",
            "version = \"2\"",
            "version",
            "not a version",
        ),
        (
            "component = \"tracker.wasm\"",
            "component = \"../x.wasm\"",
            "component",
            "beside the manifest",
        ),
        (
            "\"127.0.0.1:8080\"",
            "\"https://evil/\"",
            "capabilities.http[1]",
            "not a host name",
        ),
        ("kv = true", "kv = \"yes\"", "capabilities.kv", "boolean"),
        (
            "kv = true",
            "kv = true\nsockets = true",
            "capabilities",
            "sockets",
        ),
        (
            "fuel = 5_000_000",
            "fuel = 0",
            "limits.fuel",
            "greater than 0",
        ),
        (
            "integration = true\nactions = [\"close-stale\"]",
            "integration = false",
            "provides",
            "provides nothing",
        ),
        (
            "actions = [\"close-stale\"]",
            "actions = [\"a\", \"a\"]",
            "provides.actions[1]",
            "named twice",
        ),
        (
            "type = \"object\"",
            "type = 12",
            "config-schema",
            "not a valid JSON Schema",
        ),
        (
            "description = \"Syncs with a webhook tracker\"",
            "",
            "(top level)",
            "description",
        ),
    ];
    for (from, to, key, message) in cases {
        assert!(GOOD.contains(from), "{from}");
        let (k, m) = key_of(&GOOD.replacen(from, to, 1));
        assert!(
            k.starts_with(key),
            "{to}: key {k:?}, expected {key:?} ({m})"
        );
        assert!(m.contains(message), "{to}: {m:?} lacks {message:?}");
    }
    // Syntax errors name the file too.
    let (k, _) = key_of("name = ");
    assert_eq!(k, "(syntax)");
}

#[test]
fn the_policy_grants_only_what_it_lists() {
    let m = parse(GOOD).unwrap();
    let file = Path::new("/w/.devlog/config.toml");
    let none = Policy::from_table(None, file).unwrap();
    let e = none.permits(&m).unwrap_err().to_string();
    assert!(
        e.contains("tracker.example.com") && e.contains("allow.http"),
        "{e}"
    );

    let table: toml::Table =
        toml::from_str(r#"allow = { http = ["tracker.example.com", "127.0.0.1"], kv = false }"#)
            .unwrap();
    let p = Policy::from_table(Some(&table), file).unwrap();
    let e = p.permits(&m).unwrap_err().to_string();
    assert!(e.contains("`kv`"), "{e}");

    let table: toml::Table = toml::from_str(
        "allow = { http = [\"tracker.example.com\", \"127.0.0.1\"], kv = true }\n[max]\nfuel = 1000\nmemory-mb = 256\ntimeout-ms = 60000\nhost-calls = 1000\nresponse-kb = 16384",
    )
    .unwrap();
    let p = Policy::from_table(Some(&table), file).unwrap();
    let e = p.permits(&m).unwrap_err().to_string();
    assert!(
        e.contains("limits.fuel = 5000000") && e.contains("1000"),
        "{e}"
    );

    let table: toml::Table =
        toml::from_str("allow = { http = [\"tracker.example.com\", \"127.0.0.1\"], kv = true }")
            .unwrap();
    let p = Policy::from_table(Some(&table), file).unwrap();
    p.permits(&m).unwrap();
    // A port-less grant covers every port; a grant with a port only that port.
    assert!(p.allows_host("127.0.0.1:8080"));
    assert!(!p.allows_host("tracker.example.com.evil.net"));
    let table: toml::Table = toml::from_str("allow = { http = [\"a.example:1\"] }").unwrap();
    let p = Policy::from_table(Some(&table), file).unwrap();
    assert!(
        p.allows_host("a.example:1")
            && !p.allows_host("a.example:2")
            && !p.allows_host("a.example")
    );
}

#[test]
fn bad_policy_tables_name_the_key() {
    let file = Path::new("/w/config.toml");
    for (text, key) in [
        (
            "allow = { http = [\"*.example.com\"] }",
            "plugins.allow.http[0]",
        ),
        ("[pin]\nx = \"md5:abc\"", "plugins.pin.x"),
        ("alow = {}", "plugins."),
    ] {
        let table: toml::Table = toml::from_str(text).unwrap();
        match Policy::from_table(Some(&table), file).unwrap_err() {
            PluginError::Manifest {
                key: k, file: f, ..
            } => {
                assert!(k.starts_with(key), "{text}: {k}");
                assert_eq!(f, file);
            }
            other => panic!("{other:?}"),
        }
    }
}

fn write_plugin(dir: &Path, name: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("devlog-plugin.toml"),
        GOOD.replace("webhook-tracker", name),
    )
    .unwrap();
    std::fs::write(dir.join("tracker.wasm"), b"\0asm").unwrap();
}

#[test]
fn discovery_install_and_remove() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().join("ws/.devlog/plugins");
    let user = tmp.path().join("user");
    write_plugin(&user.join("alpha"), "alpha");
    write_plugin(&user.join("shadowed"), "beta");
    write_plugin(&ws.join("beta"), "beta");
    std::fs::create_dir_all(user.join("broken")).unwrap();
    std::fs::write(user.join("broken/devlog-plugin.toml"), "name = 3").unwrap();
    std::fs::create_dir_all(user.join("not-a-plugin")).unwrap();

    let dirs = PluginDirs::new(ws.clone(), Some(user.clone()), &[]);
    let found = dirs.discover();
    let ok: Vec<_> = found.iter().filter_map(|f| f.as_ref().ok()).collect();
    let names: Vec<_> = ok.iter().map(|l| l.manifest.name.as_str()).collect();
    assert_eq!(
        names,
        ["beta", "alpha"],
        "workspace first, the shadowed beta left out"
    );
    assert_eq!(ok[0].dir, ws.join("beta"));
    let errs: Vec<_> = found.iter().filter_map(|f| f.as_ref().err()).collect();
    assert_eq!(errs.len(), 1);
    assert!(
        errs[0].to_string().contains("broken/devlog-plugin.toml"),
        "{}",
        errs[0]
    );

    // Install from a source folder; a missing component is refused by `open`.
    let src = tmp.path().join("src/gamma");
    write_plugin(&src, "gamma");
    let located = discovery::open(&src).unwrap();
    let installed = discovery::install(&located, &ws).unwrap();
    assert!(installed.component_path().is_file());
    assert_eq!(dirs.find("gamma").unwrap().dir, ws.join("gamma"));
    // Installing again replaces it whole.
    discovery::install(&located, &ws).unwrap();
    std::fs::remove_file(src.join("tracker.wasm")).unwrap();
    let e = discovery::open(&src).unwrap_err().to_string();
    assert!(
        e.contains("component") && e.contains("does not exist"),
        "{e}"
    );

    discovery::remove("gamma", &ws).unwrap();
    assert!(!ws.join("gamma").exists());
    assert!(dirs.find("gamma").is_err());
    let e = discovery::remove("gamma", &ws).unwrap_err().to_string();
    assert!(e.contains("not installed"), "{e}");
}

#[test]
fn the_disabled_list_persists() {
    let tmp = tempfile::tempdir().unwrap();
    let list = DisabledList::new(tmp.path());
    assert_eq!(list.reason("x"), None);
    list.disable("x", "crashed").unwrap();
    assert_eq!(
        DisabledList::new(tmp.path()).reason("x").as_deref(),
        Some("crashed")
    );
    assert!(list.enable("x"));
    assert!(!list.enable("x"));
}

#[test]
fn the_scaffold_writes_a_project_with_a_valid_manifest() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("hello-plugin");
    let written = devlog_plugin::scaffold::create(&dir, "hello-plugin").unwrap();
    assert_eq!(written.len(), 6);
    let m = Manifest::load(&dir.join("devlog-plugin.toml")).unwrap();
    assert_eq!(m.component, "hello_plugin.wasm");
    assert_eq!(m.provides.actions, ["hello"]);
    let wit = std::fs::read_to_string(dir.join("wit/plugin.wit")).unwrap();
    assert!(wit.contains("package devlog:plugin@1.0.0;"));
    // Not over a non-empty folder; not with a bad name.
    assert!(devlog_plugin::scaffold::create(&dir, "hello-plugin").is_err());
    assert!(devlog_plugin::scaffold::create(&tmp.path().join("y"), "Bad").is_err());
}

/// `GOOD` with `[capabilities.auth]` = `auth` (TOML lines).
fn with_auth(auth: &str) -> String {
    GOOD.replace(
        "kv = true\n",
        &format!("kv = true\n\n[capabilities.auth]\n{auth}\n"),
    )
}

#[test]
fn an_auth_capability_is_checked() {
    let m = parse(&with_auth("scheme = \"bearer\"\nsecret = \"api-token\"")).unwrap();
    let auth = m.capabilities.auth.unwrap();
    assert!(auth.required && auth.hosts.is_empty());
    for (auth, key, says) in [
        (
            "scheme = \"bearer\"\nsecret = \"api-key\"",
            "capabilities.auth.secret",
            "must contain `token`",
        ),
        (
            "scheme = \"basic\"\nsecret = \"password\"",
            "capabilities.auth.username",
            "needs `username`",
        ),
        (
            "scheme = \"bearer\"\nsecret = \"token\"\nprefix = \"Token\"",
            "capabilities.auth.prefix",
            "only the `header` scheme",
        ),
        (
            "scheme = \"bearer\"\nsecret = \"token\"\nhosts = [\"evil.example.com\"]",
            "capabilities.auth.hosts[0]",
            "not one of `capabilities.http`",
        ),
        (
            "scheme = \"cookie\"\nsecret = \"token\"",
            "capabilities.auth.scheme",
            "unknown variant",
        ),
    ] {
        let (k, message) = key_of(&with_auth(auth));
        assert_eq!(k, key, "{auth}: {message}");
        assert!(message.contains(says), "{auth}: {message}");
    }
}

#[test]
fn credentials_are_taken_out_of_the_table_for_the_host_only() {
    const SECRET: &str = "plugin-secret-never-shown-123";
    let m = parse(&with_auth(
        "scheme = \"header\"\nsecret = \"api-token\"\nprefix = \"Token\"\nhosts = [\"tracker.example.com\"]",
    ))
    .unwrap();
    let split = m
        .split_credentials(
            serde_json::json!({"url": "https://tracker.example.com", "api-token": SECRET}),
        )
        .unwrap();
    // The plugin is configured without the secret, which its schema need not mention.
    assert_eq!(
        split.config,
        serde_json::json!({"url": "https://tracker.example.com"})
    );
    assert_eq!(split.auth.len(), 1);
    assert_eq!(split.auth[0].0, "tracker.example.com");
    assert!(!format!("{split:?}").contains(SECRET), "{split:?}");

    // Required and missing, or not a string: the key is named, nothing else.
    let e = m
        .split_credentials(serde_json::json!({"url": "https://x"}))
        .unwrap_err();
    assert!(
        e.contains("`api-token` is missing") && e.contains("${VAR}"),
        "{e}"
    );
    let e = m
        .split_credentials(serde_json::json!({"api-token": 12}))
        .unwrap_err();
    assert!(e.contains("`api-token` must be a non-empty string"), "{e}");

    // Optional and absent: no credentials; basic takes the user name out too.
    let m = parse(&with_auth(
        "scheme = \"basic\"\nsecret = \"password\"\nusername = \"user\"\nrequired = false",
    ))
    .unwrap();
    let split = m
        .split_credentials(serde_json::json!({"url": "u"}))
        .unwrap();
    assert!(split.auth.is_empty());
    let split = m
        .split_credentials(serde_json::json!({"url": "u", "user": "bot", "password": SECRET}))
        .unwrap();
    assert_eq!(split.config, serde_json::json!({"url": "u"}));
    // Every allowed host of the manifest.
    assert_eq!(split.auth.len(), 2);
    let e = m
        .split_credentials(serde_json::json!({"password": SECRET}))
        .unwrap_err();
    assert!(
        e.contains("`user` is missing") && !e.contains(SECRET),
        "{e}"
    );

    // Without the capability the table passes through untouched.
    let m = parse(GOOD).unwrap();
    let t = serde_json::json!({"url": "u", "token": "t"});
    assert_eq!(m.split_credentials(t.clone()).unwrap().config, t);
}
