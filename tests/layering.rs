//! No cycle between the files of `src/`: every import points down. A file depends on another
//! when it names a module path into it (`use crate::store::lease::Lease`, `super::shared::tell`,
//! `use session::Session` from a `mod.rs`, or a re-export). Tests modules are left out: they
//! may reach anywhere. A cycle fails the test, naming its files and the imports that close it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Module = Vec<String>;

/// Every `.rs` file under `src/`, by module path (`store::lease`; `mod.rs` is its folder).
fn modules(root: &Path) -> BTreeMap<Module, PathBuf> {
    let mut found = BTreeMap::new();
    let mut folders = vec![root.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).expect("src is readable") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                folders.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let relative = path.strip_prefix(root).expect("under src");
            let mut module: Module = relative
                .with_extension("")
                .iter()
                .map(|part| part.to_string_lossy().into_owned())
                .collect();
            if module.last().is_some_and(|m| m == "mod" || m == "lib") {
                module.pop();
            }
            if module == ["main"] {
                continue;
            }
            found.insert(module, path);
        }
    }
    found
}

/// The source a file's imports are read from: no tests module, no comments.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).expect("source is readable");
    let tests = regex::Regex::new(r"#\[cfg\(test\)\]\n(pub(\([a-z]+\))? )?mod tests").unwrap();
    let text = match tests.find(&text) {
        Some(found) => &text[..found.start()],
        None => &text[..],
    };
    let comments = regex::Regex::new(r"//[^\n]*").unwrap();
    comments.replace_all(text, "").into_owned()
}

/// The modules `module` (at `path`) names.
fn imports(module: &Module, path: &Path, all: &BTreeMap<Module, PathBuf>) -> BTreeSet<Module> {
    let source = code(path);
    let is_folder = path.ends_with("mod.rs") || path.ends_with("lib.rs");
    let base = |anchor: &str| -> Module {
        match anchor {
            "crate" => Vec::new(),
            "self" => module.clone(),
            _ => module[..module.len().saturating_sub(1)].to_vec(),
        }
    };
    let mut named: Vec<Module> = Vec::new();
    let split = |path: &str| -> Vec<String> {
        path.split("::")
            .map(str::trim)
            .filter(|p| !p.is_empty() && *p != "{")
            .map(str::to_owned)
            .collect()
    };
    let group =
        regex::Regex::new(r"(?s)\b(crate|super|self)((?:::[a-z_][a-z0-9_]*)*)::\{([^}]*)\}")
            .unwrap();
    for found in group.captures_iter(&source) {
        let mut prefix = base(&found[1]);
        prefix.extend(split(&found[2]));
        for item in found[3].split(',') {
            let item = item.split(" as ").next().unwrap_or("").trim();
            if !item.is_empty() {
                let mut path = prefix.clone();
                path.extend(split(item));
                named.push(path);
            }
        }
    }
    let single = regex::Regex::new(r"\b(crate|super|self)((?:::[A-Za-z_][A-Za-z0-9_]*)+)").unwrap();
    for found in single.captures_iter(&source) {
        let mut path = base(&found[1]);
        path.extend(split(&found[2]));
        named.push(path);
    }
    if is_folder {
        // A folder's own file naming a child plainly: `use launch::start;`, `session::Session`.
        let child = regex::Regex::new(r"(?:^|[^:\w])([a-z_][a-z0-9_]*)::[A-Za-z_{]").unwrap();
        for found in child.captures_iter(&source) {
            let mut path = module.clone();
            path.push(found[1].to_owned());
            if all.contains_key(&path) {
                named.push(path);
            }
        }
    }
    named
        .into_iter()
        .filter_map(|path| {
            // The longest prefix that is a file.
            (0..=path.len())
                .rev()
                .map(|n| path[..n].to_vec())
                .find(|prefix| all.contains_key(prefix))
        })
        .filter(|target| target != module && !target.is_empty())
        .collect()
}

/// Strongly connected components with more than one file (Tarjan).
fn cycles(edges: &BTreeMap<Module, BTreeSet<Module>>) -> Vec<Vec<Module>> {
    struct Walk<'a> {
        edges: &'a BTreeMap<Module, BTreeSet<Module>>,
        index: BTreeMap<&'a Module, usize>,
        low: BTreeMap<&'a Module, usize>,
        stack: Vec<&'a Module>,
        on_stack: BTreeSet<&'a Module>,
        found: Vec<Vec<Module>>,
    }
    impl<'a> Walk<'a> {
        fn visit(&mut self, v: &'a Module) {
            let n = self.index.len();
            self.index.insert(v, n);
            self.low.insert(v, n);
            self.stack.push(v);
            self.on_stack.insert(v);
            for w in &self.edges[v] {
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let low = self.low[v].min(self.low[w]);
                    self.low.insert(v, low);
                } else if self.on_stack.contains(w) {
                    let low = self.low[v].min(self.index[w]);
                    self.low.insert(v, low);
                }
            }
            if self.low[v] == self.index[v] {
                let mut component = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack.remove(w);
                    component.push(w.clone());
                    if w == v {
                        break;
                    }
                }
                if component.len() > 1 {
                    self.found.push(component);
                }
            }
        }
    }
    let mut walk = Walk {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in edges.keys() {
        if !walk.index.contains_key(v) {
            walk.visit(v);
        }
    }
    walk.found
}

fn edges_of(root: &Path) -> BTreeMap<Module, BTreeSet<Module>> {
    let all = modules(root);
    all.iter()
        .map(|(module, path)| (module.clone(), imports(module, path, &all)))
        .collect()
}

#[test]
fn no_file_of_src_imports_one_that_imports_it_back() {
    let edges = edges_of(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    assert!(edges.len() > 100, "src/ was read: {} files", edges.len());
    let name = |m: &Module| m.join("::");
    let report: Vec<String> = cycles(&edges)
        .iter()
        .map(|component| {
            let members: BTreeSet<&Module> = component.iter().collect();
            let closing: Vec<String> = component
                .iter()
                .flat_map(|from| {
                    edges[from]
                        .iter()
                        .filter(|to| members.contains(to))
                        .map(move |to| format!("{} -> {}", name(from), name(to)))
                })
                .collect();
            format!("cycle: {}", closing.join(", "))
        })
        .collect();
    assert!(report.is_empty(), "{}", report.join("\n"));
}

#[test]
fn the_checker_sees_a_cycle_through_a_parent_and_its_child() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path();
    std::fs::create_dir_all(src.join("fleet")).unwrap();
    std::fs::write(src.join("lib.rs"), "pub mod fleet;\npub mod clock;\n").unwrap();
    std::fs::write(src.join("clock.rs"), "pub struct Clock;\n").unwrap();
    std::fs::write(
        src.join("fleet/mod.rs"),
        "mod launch;\npub use launch::start;\npub struct RunOptions;\n",
    )
    .unwrap();
    std::fs::write(
        src.join("fleet/launch.rs"),
        "use super::RunOptions;\nuse crate::clock::Clock;\npub fn start() {}\n",
    )
    .unwrap();
    let found = cycles(&edges_of(src));
    assert_eq!(found.len(), 1, "{found:?}");
    let mut members: Vec<String> = found[0].iter().map(|m| m.join("::")).collect();
    members.sort();
    assert_eq!(members, ["fleet", "fleet::launch"]);
}
