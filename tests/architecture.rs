//! The shape of the crate, checked from its sources: the top-level modules keep the layering
//! stated in `src/lib.rs` (a module uses only modules of the layers below its own), and no two
//! sibling modules, at any depth, use each other, directly or through others.
//!
//! Uses are read from the source text: `crate::…` paths (grouped `use crate::{a, b::c}`
//! included), `super::…` and `self::…` paths, and paths starting with a child module's name.
//! Comments and `#[cfg(test)]` items are left out: tests may reach anywhere.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test: a source it cannot read is a failure"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Module = Vec<String>;

/// Every module of the library: its path (`["index", "cache"]`) and its source text without
/// comments and test items.
fn modules() -> BTreeMap<Module, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut found = BTreeMap::new();
    let mut pending = vec![root.clone()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            if path.extension().is_none_or(|ext| ext != "rs") {
                continue;
            }
            let Some(module) = module_of(&root, &path) else {
                continue;
            };
            let text = without_comments(&std::fs::read_to_string(&path).unwrap());
            found.insert(module, text);
        }
    }
    // Files only compiled for tests (`#[cfg(test)] mod tests;`) are not part of the shape.
    let test_only: BTreeSet<Module> = found
        .iter()
        .flat_map(|(module, text)| {
            test_only_children(text)
                .into_iter()
                .map(move |child| [module.clone(), vec![child]].concat())
        })
        .collect();
    found.retain(|module, _| !test_only.iter().any(|t| module.starts_with(t)));
    found
        .into_iter()
        .map(|(module, text)| (module, without_tests(&text)))
        .collect()
}

fn module_of(root: &Path, path: &Path) -> Option<Module> {
    let relative: PathBuf = path.strip_prefix(root).ok()?.with_extension("");
    let mut parts: Module = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    match parts.last().map(String::as_str) {
        Some("main") if parts.len() == 1 => return None,
        Some("lib") if parts.len() == 1 => parts.clear(),
        Some("mod") => {
            parts.pop();
        }
        _ => {}
    }
    Some(parts)
}

/// `text` without `//` and `/* */` comments (string literals are kept as they are).
fn without_comments(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let mut in_string = false;
    while i < bytes.len() {
        let rest = &text[i..];
        if in_string {
            if rest.starts_with("\\\"") || rest.starts_with("\\\\") {
                out.push_str(&rest[..2]);
                i += 2;
                continue;
            }
            if rest.starts_with('"') {
                in_string = false;
            }
        } else if rest.starts_with("//") {
            let end = rest.find('\n').unwrap_or(rest.len());
            i += end;
            continue;
        } else if rest.starts_with("/*") {
            let end = rest.find("*/").map_or(rest.len(), |end| end + 2);
            i += end;
            continue;
        } else if rest.starts_with('"') && !text[..i].ends_with('\'') {
            in_string = true;
        }
        let c = rest.chars().next().unwrap();
        out.push(c);
        i += c.len_utf8();
    }
    out
}

/// `text` without the items marked `#[cfg(test)]`.
fn without_tests(text: &str) -> String {
    let mut out = text.to_owned();
    while let Some(start) = out.find("#[cfg(test)]") {
        let after = start + "#[cfg(test)]".len();
        let semicolon = out[after..].find(';').map(|at| after + at);
        let brace = out[after..].find('{').map(|at| after + at);
        let end = match (semicolon, brace) {
            (Some(semicolon), Some(brace)) if semicolon < brace => semicolon + 1,
            (_, Some(brace)) => matching_brace(&out, brace) + 1,
            (Some(semicolon), None) => semicolon + 1,
            (None, None) => out.len(),
        };
        out.replace_range(start..end, "");
    }
    out
}

fn matching_brace(text: &str, open: usize) -> usize {
    let mut depth = 0usize;
    for (at, c) in text[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return open + at;
                }
            }
            _ => {}
        }
    }
    text.len() - 1
}

/// The children a module declares `#[cfg(test)] mod name;` (files compiled only for tests).
fn test_only_children(text: &str) -> Vec<String> {
    text.split("#[cfg(test)]")
        .skip(1)
        .filter_map(|after| {
            let item = after.trim_start();
            let item = item.strip_prefix("pub(crate) ").unwrap_or(item);
            let name = item.strip_prefix("mod ")?.split(';').next()?.trim();
            (!name.contains('{') && name.chars().all(is_ident_char)).then(|| name.to_owned())
        })
        .collect()
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The paths `text` names after `prefix::` (`crate::a::b` gives `a::b`; a group
/// `crate::{a, b::{c, d}}` gives `a` and `b::c`, `b::d`).
fn paths_after(text: &str, prefix: &str) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    let needle = format!("{prefix}::");
    let mut from = 0;
    while let Some(found) = text[from..].find(&needle) {
        let at = from + found;
        from = at + needle.len();
        if text[..at].chars().next_back().is_some_and(is_ident_char) {
            continue;
        }
        expand(&text[from..], &mut Vec::new(), &mut paths);
    }
    paths
}

/// Reads one path (or group) at the start of `text`, with `stem` before it.
fn expand(text: &str, stem: &mut Vec<String>, paths: &mut Vec<Vec<String>>) {
    let text = text.trim_start();
    if let Some(inner) = text.strip_prefix('{') {
        let close = matching_brace(text, 0);
        let inner = &inner[..close - 1];
        for item in split_top_level(inner) {
            expand(item, &mut stem.clone(), paths);
        }
        return;
    }
    let ident: String = text.chars().take_while(|c| is_ident_char(*c)).collect();
    if ident.is_empty() {
        if !stem.is_empty() {
            paths.push(stem.clone());
        }
        return;
    }
    stem.push(ident.clone());
    let rest = &text[ident.len()..];
    match rest.strip_prefix("::") {
        Some(rest) => expand(rest, stem, paths),
        None => paths.push(stem.clone()),
    }
}

fn split_top_level(text: &str) -> Vec<&str> {
    let mut items = Vec::new();
    let (mut depth, mut start) = (0usize, 0);
    for (at, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                items.push(&text[start..at]);
                start = at + 1;
            }
            _ => {}
        }
    }
    items.push(&text[start..]);
    items
}

/// The parent of a module (`index::cache` → `index`; `index` → the crate root).
fn parent(module: &[String]) -> Module {
    module[..module.len().saturating_sub(1)].to_vec()
}

/// The modules `module` uses, each as the longest known module its paths name.
fn uses(module: &Module, text: &str, known: &BTreeSet<Module>) -> BTreeSet<Module> {
    let mut named: Vec<Module> = Vec::new();
    named.extend(paths_after(text, "crate"));
    // `super::super::x`: each `super` climbs one level.
    let mut base = parent(module);
    let mut prefix = String::from("super");
    loop {
        for path in paths_after(text, &prefix) {
            if path.first().is_some_and(|first| first == "super") {
                continue;
            }
            named.push([base.clone(), path].concat());
        }
        if base.is_empty() || !text.contains(&format!("{prefix}::super::")) {
            break;
        }
        base = parent(&base);
        prefix.push_str("::super");
    }
    for path in paths_after(text, "self") {
        named.push([module.clone(), path].concat());
    }
    // Paths that start with a child module's name (`use cache::Entry;` in `index`).
    for child in known
        .iter()
        .filter(|k| parent(k) == *module && !k.is_empty())
    {
        let name = child.last().unwrap();
        for path in paths_after(text, name) {
            named.push([child.clone(), path].concat());
        }
    }
    named
        .into_iter()
        .filter_map(|path| {
            (1..=path.len())
                .rev()
                .map(|n| path[..n].to_vec())
                .find(|candidate| known.contains(candidate))
        })
        .filter(|target| target != module)
        .collect()
}

/// The edges between siblings: `a → b` where a use inside `a` (or its descendants) names `b`
/// (or its descendants), `a` and `b` being children of the same module. Uses of an ancestor
/// or a descendant are not edges: a module and its parts are one room.
fn sibling_edges() -> BTreeMap<Module, BTreeSet<Module>> {
    let modules = modules();
    let known: BTreeSet<Module> = modules.keys().cloned().collect();
    let mut edges: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for (module, text) in &modules {
        for target in uses(module, text, &known) {
            let common = module
                .iter()
                .zip(&target)
                .take_while(|(a, b)| a == b)
                .count();
            if common == module.len() || common == target.len() {
                continue;
            }
            let from = module[..=common].to_vec();
            let to = target[..=common].to_vec();
            edges.entry(from).or_default().insert(to);
        }
    }
    edges
}

/// The layers `src/lib.rs` states, top first: the lines of the ```text block under
/// "# Layers", each a comma-separated list of top-level modules.
fn stated_layers() -> Vec<Vec<String>> {
    let lib =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).unwrap();
    let doc: Vec<&str> = lib
        .lines()
        .filter_map(|line| line.strip_prefix("//!"))
        .map(str::trim)
        .collect();
    let heading = doc
        .iter()
        .position(|line| *line == "# Layers")
        .expect("src/lib.rs states its layers under `# Layers`");
    let open = heading
        + doc[heading..]
            .iter()
            .position(|line| *line == "```text")
            .expect("the layers are a ```text block");
    doc[open + 1..]
        .iter()
        .take_while(|line| **line != "```")
        .map(|line| {
            line.split(',')
                .map(|name| name.trim().to_owned())
                .filter(|name| !name.is_empty())
                .collect()
        })
        .collect()
}

#[test]
fn top_level_modules_use_only_the_layers_below_them() {
    let layers = stated_layers();
    let rank: BTreeMap<&str, usize> = layers
        .iter()
        .enumerate()
        .flat_map(|(rank, names)| names.iter().map(move |name| (name.as_str(), rank)))
        .collect();
    let top_level: BTreeSet<String> = modules()
        .keys()
        .filter(|module| module.len() == 1)
        .map(|module| module[0].clone())
        .collect();
    let unplaced: Vec<&String> = top_level
        .iter()
        .filter(|name| !rank.contains_key(name.as_str()))
        .collect();
    assert!(
        unplaced.is_empty(),
        "modules missing from the layers in src/lib.rs: {unplaced:?}"
    );
    let mut upward = Vec::new();
    for (from, targets) in sibling_edges() {
        if from.len() != 1 {
            continue;
        }
        for to in targets {
            let (a, b) = (rank[from[0].as_str()], rank[to[0].as_str()]);
            if a >= b {
                upward.push(format!("{} uses {}", from[0], to[0]));
            }
        }
    }
    assert!(
        upward.is_empty(),
        "uses that do not point to a lower layer: {upward:#?}"
    );
}

#[test]
fn no_sibling_modules_use_each_other() {
    let edges = sibling_edges();
    let mut cycles = Vec::new();
    // A cycle exists when some module reaches itself.
    for start in edges.keys() {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<Module> = edges[start].iter().cloned().collect();
        while let Some(next) = stack.pop() {
            if next == *start {
                cycles.push(start.join("::"));
                break;
            }
            if seen.insert(next.clone()) {
                stack.extend(edges.get(&next).into_iter().flatten().cloned());
            }
        }
    }
    assert!(
        cycles.is_empty(),
        "modules that use themselves through their siblings: {cycles:#?}"
    );
}

#[test]
fn the_reader_sees_grouped_super_and_child_paths() {
    let text = "use crate::{a, b::{c, d::E}};\nuse super::f::G;\nfn x() { crate::h::i(); }";
    let paths = paths_after(text, "crate");
    let expected: Vec<Vec<String>> = [
        vec!["a"],
        vec!["b", "c"],
        vec!["b", "d", "E"],
        vec!["h", "i"],
    ]
    .iter()
    .map(|p| p.iter().map(|s| (*s).to_owned()).collect())
    .collect();
    assert_eq!(paths, expected);
    let known: BTreeSet<Module> = [vec!["a"], vec!["b"], vec!["b", "d"], vec!["x", "f"]]
        .iter()
        .map(|p| p.iter().map(|s| (*s).to_owned()).collect())
        .collect();
    let module: Module = vec!["x".to_owned(), "y".to_owned()];
    let found = uses(&module, text, &known);
    let names: Vec<String> = found.iter().map(|m| m.join("::")).collect();
    assert_eq!(names, ["a", "b", "b::d", "x::f"]);
    let stripped = without_tests(&without_comments(
        "use crate::a; // crate::z\n#[cfg(test)]\nmod tests { use crate::q; }\n",
    ));
    assert!(!stripped.contains("crate::z") && !stripped.contains("crate::q"));
}
