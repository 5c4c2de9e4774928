//! Finding workflow files: `.devlog/workflows/*.yml` (and `.yaml`) plus shared folders, read
//! in name order; and the local enable/disable switches
//! (`.devlog/.state/workflows.json`).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::format::{FormatError, Loaded, MAX_FILE, parse};
use crate::runs::{RunId, RunRecord, RunState, RunStoreError};

/// What loading the workflow folders found: the workflows and the files that failed.
#[derive(Debug, Default)]
pub struct LoadReport {
    pub workflows: Vec<Loaded>,
    pub errors: Vec<FormatError>,
}

/// The workflow files of `dirs`, in order (a missing folder has none).
pub fn files(dirs: &[PathBuf]) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for dir in dirs {
        let rd = match fs::read_dir(dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        let mut here: Vec<PathBuf> = rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "yml" || x == "yaml"))
            .collect();
        here.sort();
        out.extend(here);
    }
    Ok(out)
}

/// Reads every workflow file of `dirs`. Two workflows with one name: the second is an error.
/// `display` turns a path into the name errors show (relative to the workspace, say). The
/// first folder is the workspace's own (`.devlog/workflows/`, absent until a workflow is
/// written); the others are shared folders a configuration names, and a missing one is an
/// error (a typo in the path would otherwise turn the team's workflows off unsaid).
pub fn load(dirs: &[PathBuf], display: &dyn Fn(&Path) -> String) -> std::io::Result<LoadReport> {
    let mut report = LoadReport::default();
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for dir in dirs.iter().skip(1) {
        if !dir.is_dir() {
            report.errors.push(FormatError {
                file: display(dir),
                line: None,
                key: String::new(),
                message: "no such folder (a shared workflow folder: `paths` under [workflows] \
                          in devlog.toml)"
                    .into(),
            });
        }
    }
    for path in files(dirs)? {
        let name = display(&path);
        let meta = fs::metadata(&path)?;
        if meta.len() > MAX_FILE as u64 {
            report.errors.push(FormatError {
                file: name,
                line: None,
                key: String::new(),
                message: format!("the file is larger than {MAX_FILE} bytes"),
            });
            continue;
        }
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                report.errors.push(FormatError {
                    file: name,
                    line: None,
                    key: String::new(),
                    message: format!("cannot read it: {e}"),
                });
                continue;
            }
        };
        match parse(&name, &text) {
            Ok(w) => {
                let wname = w.workflow.name.to_string();
                if let Some(first) = seen.get(&wname) {
                    report.errors.push(FormatError {
                        file: name,
                        line: text
                            .lines()
                            .position(|l| l.starts_with("name:"))
                            .map(|i| i + 1),
                        key: "name".into(),
                        message: format!("workflow {wname:?} is already defined in {first}"),
                    });
                } else {
                    seen.insert(wname, name);
                    report.workflows.push(w);
                }
            }
            Err(e) => report.errors.push(e),
        }
    }
    Ok(report)
}

/// This checkout's switches: workflows turned off (or on, over `enabled: false`) here.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Switches {
    #[serde(default)]
    pub disabled: BTreeSet<String>,
    #[serde(default)]
    pub enabled: BTreeSet<String>,
}

impl Switches {
    pub fn read(path: &Path) -> Result<Self, String> {
        match fs::read(path) {
            Ok(t) => serde_json::from_slice(&t).map_err(|e| format!("{}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    }

    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension("json.tmp");
        fs::write(&tmp, serde_json::to_vec_pretty(self).unwrap_or_default())?;
        fs::rename(tmp, path)
    }

    pub fn set(&mut self, name: &str, on: bool) {
        if on {
            self.disabled.remove(name);
            self.enabled.insert(name.to_string());
        } else {
            self.enabled.remove(name);
            self.disabled.insert(name.to_string());
        }
    }

    /// The names the engine treats as disabled: turned off here, or off in their file and
    /// not turned on here.
    pub fn disabled_of(&self, workflows: &[Loaded]) -> BTreeSet<String> {
        workflows
            .iter()
            .map(|w| w.workflow.name.to_string())
            .filter(|n| {
                self.disabled.contains(n)
                    || (!self.enabled.contains(n)
                        && workflows
                            .iter()
                            .any(|w| w.workflow.name.as_str() == n && !w.workflow.enabled))
            })
            .collect()
    }
}

/// Where a workspace keeps its workflows: the folders read, the runs (in the sync state) and
/// the checkout's switches — what a frontend (the server's routes, MCP) needs to list and run
/// them the way the CLI does.
#[derive(Debug, Clone)]
pub struct Site {
    pub dirs: Vec<PathBuf>,
    pub runs: crate::RunStore,
    pub switches: PathBuf,
    /// Paths in errors are shown relative to it.
    pub root: PathBuf,
    /// What runs `sync`, `notify` and `plugin` steps (`None`: they fail saying so).
    pub host: Option<std::sync::Arc<dyn crate::StepHost>>,
}

impl Site {
    /// The places of a workspace whose `.devlog` folder is `devlog_dir`, under `root`, with
    /// its runs in `runs` (the workspace's sync state).
    pub fn of(devlog_dir: &Path, root: &Path, runs: crate::RunStore) -> Self {
        let state = devlog_dir.join(".state");
        Self {
            dirs: vec![devlog_dir.join("workflows")],
            runs,
            switches: state.join("workflows.json"),
            root: root.to_path_buf(),
            host: None,
        }
    }

    /// The same places, with engines running outside steps through `host`.
    pub fn with_host(mut self, host: std::sync::Arc<dyn crate::StepHost>) -> Self {
        self.host = Some(host);
        self
    }

    /// Reads the workflow files.
    pub fn load(&self) -> Result<LoadReport, String> {
        let root = self.root.clone();
        let display = move |p: &Path| p.strip_prefix(&root).unwrap_or(p).display().to_string();
        load(&self.dirs, &display).map_err(|e| {
            format!(
                "cannot read {}: {e}",
                self.dirs
                    .first()
                    .map(|d| d.display().to_string())
                    .unwrap_or_default()
            )
        })
    }

    /// The workflows turned off (in their file or in this checkout).
    pub fn disabled(&self, workflows: &[Loaded]) -> Result<BTreeSet<String>, String> {
        Ok(Switches::read(&self.switches)?.disabled_of(workflows))
    }

    /// An engine over the workflows read now, writing through `app` as `origin`; with the
    /// files' problems.
    pub fn engine(
        &self,
        app: devlog_core::Devlog,
        origin: devlog_core::Origin,
    ) -> Result<(crate::Engine, Vec<FormatError>), String> {
        let report = self.load()?;
        let disabled = self.disabled(&report.workflows)?;
        let engine = crate::Engine::new(app, report.workflows, disabled, self.runs.clone(), origin);
        let engine = match &self.host {
            Some(h) => engine.with_host(h.clone()),
            None => engine,
        };
        Ok((engine, report.errors))
    }

    /// The recorded runs `q` selects, newest first. The frontends that show runs (the
    /// server's routes and dashboard, MCP) read them through this and [`Site::run`] only.
    pub async fn runs(&self, q: &RunQuery) -> Result<Vec<RunRecord>, RunStoreError> {
        self.runs
            .list_where(q.workflow.as_deref(), q.state, q.limit)
            .await
    }

    /// One recorded run (`RunStoreError::NotFound` when there is none with that id).
    pub async fn run(&self, id: &RunId) -> Result<RunRecord, RunStoreError> {
        self.runs.load(id).await
    }
}

/// Which recorded runs [`Site::runs`] lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunQuery {
    /// Only this workflow's runs.
    pub workflow: Option<String>,
    /// Only runs in this state.
    pub state: Option<RunState>,
    /// At most this many, the newest (0: all).
    pub limit: usize,
}
