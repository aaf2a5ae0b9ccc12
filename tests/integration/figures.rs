//! Figures, images and tables: from the runtime in a real local sandbox
//! (with the service's 4,096-character cap, and an interpreter that has
//! matplotlib, pandas and Pillow) to the engine's display items, the command
//! line's files and JSON, and the language server's runFinished, hover,
//! transcript and figure commands.

use std::path::Path;
use std::process::Command;

use azure_sandbox_lsp::run::{DisplayOptions, FigureFormat, Notice, Output, RunResult, Snippet, png_size};
use azure_sandbox_lsp::sandbox::{DEFAULT_OUTPUT_CAP, LocalSandbox, SandboxConfig};
use serde_json::{Value, json};

use crate::common::{self, lsp::*};

const BIN: &str = env!("CARGO_BIN_EXE_azure-sandbox-lsp");

const PLOT: &str = "import matplotlib.pyplot as plt
import pandas as pd
print('before')
plt.plot([1, 2, 3], [3, 1, 2])
plt.show()
display(pd.DataFrame({'a': [1, 2], 'b': [3.5, 4.5]}))
print('after')
plt.figure()
plt.bar(['x', 'y'], [2, 5])
";

async fn sandbox() -> LocalSandbox {
    let config = SandboxConfig { python: Some(common::figures_python()), ..common::config() };
    assert_eq!(config.output_cap, DEFAULT_OUTPUT_CAP, "the service's cap");
    common::sandbox(config).await
}

fn texts(outputs: &[Output<'_>]) -> Vec<String> {
    outputs
        .iter()
        .map(|o| match o {
            Output::Stream { text, .. } => format!("text {}", text.trim()),
            Output::Display(d) => format!("display {}", d.image().map_or("text".into(), |i| i.mime.to_owned())),
            Output::Value(v) => format!("value {v}"),
            Output::Error(e) => format!("error {}", e.type_name),
        })
        .collect()
}

/// plt.show() and a figure left open at the end, each where the run made
/// it, whole PNGs of matplotlib's 640×480 though each is several times the
/// cap; a DataFrame passed to display() as an HTML table with its text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn figures_and_tables_come_back_whole_through_the_cap() {
    let sandbox = sandbox().await;
    let engine = common::engine(&sandbox);
    let key = engine.workspace_key("/w".into());
    let file = Snippet { whole_file: true, ..Snippet::whole("/w/plot.py", PLOT) };
    let report = engine.run(&key, &file).await.unwrap();
    assert!(report.succeeded(), "{:?} {}", report.result, report.stderr);
    assert_eq!(
        texts(&report.outputs()),
        ["text before", "display image/png", "display text", "text after", "display image/png"]
    );
    for display in report.displays.iter().filter(|d| d.image().is_some()) {
        let image = display.image().unwrap();
        assert!(image.bytes.len() * 4 / 3 > DEFAULT_OUTPUT_CAP, "larger than the cap: {}", image.bytes.len());
        assert_eq!(png_size(&image.bytes), Some((640, 480)));
        assert_eq!(display.plain(), Some("<Figure size 640x480 with 1 Axes>"));
    }
    let table = &report.displays[1];
    assert!(table.data["text/html"].contains("<table") && table.data["text/html"].contains("4.5"));
    assert!(table.plain().unwrap().contains("3.5"));
    assert!(report.notices.is_empty(), "{:?}", report.notices);
    sandbox.shutdown().await;
}

/// A cell's trailing DataFrame, Series (passed to display) and PIL image
/// are rich displays; an object whose rich repr raises still shows its
/// text and the run succeeds; SVG figures with the setting; an object's
/// own `_repr_svg_`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rich_values_pil_images_svg_and_broken_reprs() {
    let sandbox = sandbox().await;
    let engine = common::engine(&sandbox);
    let key = engine.workspace_key("/w".into());
    let cell = |code: &str| Snippet::whole("/w/c.py", code);

    let report = engine
        .run(&key, &cell("import pandas as pd\ndf = pd.DataFrame({'n': range(3)})\ndisplay(df['n'])\ndf"))
        .await
        .unwrap();
    assert_eq!(report.displays.len(), 2, "{:?}", report.result);
    assert!(report.displays[0].data["text/html"].contains("<table"), "a Series as a table");
    assert!(report.displays[1].is_result && report.displays[1].data.contains_key("text/html"));
    assert!(matches!(&report.result, RunResult::Succeeded { value: Some(v) } if v.contains('n')));
    assert!(!texts(&report.outputs()).iter().any(|t| t.starts_with("value")), "the table stands for the value");

    let report = engine.run(&key, &cell("from PIL import Image\nImage.new('RGB', (30, 20), 'red')")).await.unwrap();
    let image = report.displays[0].image().unwrap();
    assert_eq!((image.mime, png_size(&image.bytes)), ("image/png", Some((30, 20))));

    let broken = "class Broken:\n    def _repr_html_(self):\n        raise RuntimeError('no')\n    \
                  def __getattr__(self, name):\n        raise AssertionError(name)\ndisplay(Broken())\n'done'";
    let report = engine.run(&key, &cell(broken)).await.unwrap();
    assert!(matches!(&report.result, RunResult::Succeeded { value: Some(v) } if v == "'done'"), "{:?}", report.result);
    assert_eq!(report.displays[0].data.keys().collect::<Vec<_>>(), ["text/plain"]);

    engine.set_display_options(DisplayOptions { format: FigureFormat::Svg, ..Default::default() });
    let report =
        engine.run(&key, &cell("import matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.show()")).await.unwrap();
    let svg = report.displays[0].image().unwrap();
    assert_eq!(svg.mime, "image/svg+xml");
    assert!(String::from_utf8(svg.bytes).unwrap().contains("<svg"));
    let own = "class Dot:\n    def _repr_svg_(self):\n        return '<svg xmlns=\"http://www.w3.org/2000/svg\"><circle r=\"4\"/></svg>'\nDot()";
    let report = engine.run(&key, &cell(own)).await.unwrap();
    assert_eq!(report.displays[0].image().unwrap().mime, "image/svg+xml");
    sandbox.shutdown().await;
}

/// Display data beyond the run's limit is dropped and counted, never cut
/// in the middle; what fits still comes back; figure size and DPI apply.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_figure_over_the_display_limit_is_dropped_and_said() {
    let sandbox = sandbox().await;
    let engine = common::engine(&sandbox);
    let key = engine.workspace_key("/w".into());
    engine.set_display_options(DisplayOptions { dpi: 50.0, figure_size: (4.0, 2.0), ..Default::default() });
    let small = engine
        .run(&key, &Snippet::whole("/w/s.py", "import matplotlib.pyplot as plt\nplt.plot([1, 2])\n"))
        .await
        .unwrap();
    assert_eq!(png_size(&small.displays[0].image().unwrap().bytes), Some((200, 100)), "4×2 inches at 50 dpi");

    engine.set_display_options(DisplayOptions { dpi: 300.0, limit: 60_000, ..Default::default() });
    let code = "import matplotlib.pyplot as plt\nimport numpy as np\n\
                plt.imshow(np.random.default_rng(1).random((300, 300)))\nplt.show()\nprint('made')\n";
    let report = engine.run(&key, &Snippet::whole("/w/big.py", code)).await.unwrap();
    assert!(report.succeeded() && report.stdout == "made\n", "{:?}", report.result);
    assert!(report.displays.is_empty());
    let dropped = report.notices.iter().find_map(|n| match n {
        Notice::DisplaysDropped { count, bytes } => Some((*count, *bytes)),
        _ => None,
    });
    let (count, bytes) = dropped.expect("the drop is said");
    assert!(count == 1 && bytes > 60_000, "{count} {bytes}");
    assert!(report.notices[0].message().contains("display limit"));
    sandbox.shutdown().await;
}

/// Figures the client cannot fetch (here the environment kept no record
/// of the run) are said to be lost, and the rest of the run still shows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn figures_that_cannot_be_fetched_are_said_to_be_lost() {
    let sandbox = sandbox().await;
    let engine = common::engine(&sandbox);
    let key = engine.workspace_key("/w".into());
    let forget = "import sys\nfor name, module in list(sys.modules.items()):\n    \
                  if name.startswith('_azsb_runtime_'):\n        module._keep_record = lambda nonce, record: None\n";
    engine.run(&key, &Snippet::whole("/w/f.py", forget)).await.unwrap();
    let code = "import matplotlib.pyplot as plt\nplt.plot([1, 2])\nprint('drawn')\n";
    let report = engine.run(&key, &Snippet::whole("/w/f.py", code)).await.unwrap();
    assert!(report.succeeded() && report.stdout == "drawn\n", "{:?} {:?}", report.result, report.stdout);
    assert!(report.displays.is_empty());
    assert_eq!(report.notices, [Notice::DisplaysLost { count: 1 }]);
    assert!(report.notices[0].message().contains("could not be fetched"));
    sandbox.shutdown().await;
}

fn cli(cache: &Path, args: &[&str]) -> std::process::Output {
    let mut command = Command::new(BIN);
    for var in ["AZURE_SANDBOX_MCP_ENDPOINT", "AZURE_SANDBOX_API_KEY", "AZURE_SANDBOX_POOL", "AZURE_SANDBOX_PYTHON"] {
        command.env_remove(var);
    }
    command.env("AZURE_SANDBOX_CACHE_DIR", cache).args(args).output().unwrap()
}

/// `run` writes each figure (a valid 640×480 PNG) and names it on stderr;
/// `--figures DIR` chooses the directory; `--json` prints the typed result;
/// the interpreter comes from --python or AZURE_SANDBOX_PYTHON.
#[test]
fn the_command_line_writes_figures_and_prints_json() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("plot.py");
    std::fs::write(&script, PLOT).unwrap();
    let python = common::figures_python();
    let cache = dir.path().join("cache");
    let output = cli(&cache, &["run", "--local", "--python", python.to_str().unwrap(), script.to_str().unwrap()]);
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stdout.starts_with("before\n   a    b\n0  1  3.5\n1  2  4.5\nafter\n"), "{stdout}");
    let named: Vec<&str> = stderr.lines().filter_map(|l| l.strip_prefix("azure-sandbox-lsp: figure ")).collect();
    assert_eq!(named.len(), 2, "{stderr}");
    for line in named {
        let path = line.split_once(": ").unwrap().1.split(" (PNG 640×480").next().unwrap();
        assert!(path.starts_with(cache.join("figures").to_str().unwrap()), "{path}");
        assert_eq!(png_size(&std::fs::read(path).unwrap()), Some((640, 480)), "{path}");
    }

    let chosen = dir.path().join("out");
    let mut command = Command::new(BIN);
    command.env_remove("AZURE_SANDBOX_MCP_ENDPOINT").env_remove("AZURE_SANDBOX_POOL");
    let output = command
        .env("AZURE_SANDBOX_CACHE_DIR", &cache)
        .env("AZURE_SANDBOX_PYTHON", &python)
        .args(["run", "--local", "--json", "--figures", chosen.to_str().unwrap(), script.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let result: Value = serde_json::from_slice(&output.stdout).expect("one JSON object on stdout");
    assert_eq!(result["status"], "succeeded");
    let kinds: Vec<&str> = result["outputs"].as_array().unwrap().iter().map(|o| o["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["stream", "display", "display", "stream", "display"]);
    let figures = result["figures"].as_array().unwrap();
    assert_eq!(figures.len(), 2);
    for figure in figures {
        let path = Path::new(figure["path"].as_str().unwrap());
        assert!(path.starts_with(&chosen) && path.exists(), "{figure}");
        assert_eq!((figure["width"].as_u64(), figure["height"].as_u64()), (Some(640), Some(480)));
        assert!(figure["uri"].as_str().unwrap().starts_with("file:///"));
    }
    assert_eq!(result["outputs"][1]["figure"], figures[0]);
    assert!(result["outputs"][2]["data"]["text/html"].as_str().unwrap().contains("<table"));

    let failing = dir.path().join("fail.py");
    std::fs::write(&failing, "x = 1\n1 / 0\n").unwrap();
    let output = cli(&cache, &["run", "--local", "--json", failing.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let result: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        (result["status"].as_str(), result["error"]["type"].as_str()),
        (Some("raised"), Some("ZeroDivisionError"))
    );
    assert_eq!(result["error"]["frames"][0]["line"], 2);
}

/// The language server: runFinished carries the outputs and the saved
/// figure; the hover shows a thumbnail and links the file; the transcript
/// names it; latestFigure answers it and openFigure hands it to the opener.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_language_server_carries_figures_to_the_editor() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let cache = root.join("cache");
    let opened = root.join("opened.txt");
    let opener = root.join("opener.sh");
    std::fs::write(&opener, format!("#!/bin/sh\necho \"$@\" >> '{}'\n", opened.display())).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&opener, std::fs::Permissions::from_mode(0o755)).unwrap();
    let client = LspClient::binary(&[
        ("AZURE_SANDBOX_CACHE_DIR", cache.to_str().unwrap()),
        ("AZURE_SANDBOX_OPENER", opener.to_str().unwrap()),
    ]);
    let python = common::figures_python();
    client
        .initialize(&root, json!({"backend": "local", "localPython": python, "figureDpi": 50}), rich_capabilities())
        .await;
    let path = root.join("plot.py");
    std::fs::write(&path, PLOT).unwrap();
    let uri = file_uri(&path);
    client.open(&uri, PLOT).await;

    let none = client
        .result(
            "workspace/executeCommand",
            json!({"command": "azureSandbox.latestFigure", "arguments": [{"uri": uri}]}),
        )
        .await;
    assert_eq!(none, Value::Null, "no figure before a run");
    let mark = client.mark();
    client
        .result("workspace/executeCommand", json!({"command": "azureSandbox.runFile", "arguments": [{"uri": uri}]}))
        .await;
    let finished =
        client.wait_after(mark, "runFinished", |m| m["method"] == "azureSandbox/runFinished").await["params"].clone();
    assert_eq!(finished["status"], "succeeded", "{finished}");
    assert_eq!(finished["code"], PLOT.trim_end());
    let figures = finished["figures"].as_array().unwrap();
    assert_eq!(figures.len(), 2, "{finished}");
    let figure_path = figures[1]["path"].as_str().unwrap().to_owned();
    assert!(figure_path.starts_with(cache.join("figures").to_str().unwrap()));
    assert_eq!((figures[0]["width"].as_u64(), figures[0]["height"].as_u64()), (Some(320), Some(240)), "50 dpi");
    let outputs = finished["outputs"].as_array().unwrap();
    assert_eq!(outputs[1]["figure"], figures[0]);
    assert!(outputs[1]["data"].get("image/png").is_none(), "images travel as files, never inline");
    assert!(outputs[2]["data"]["text/html"].as_str().unwrap().contains("<table"));

    let hover = client
        .result("textDocument/hover", json!({"textDocument": {"uri": uri}, "position": {"line": 3, "character": 0}}))
        .await;
    let markdown = hover["contents"]["value"].as_str().unwrap();
    assert!(markdown.contains("](data:image/png;base64,"), "a thumbnail");
    assert!(markdown.len() < 100_000, "VS Code cuts hovers at 100,000 characters: {}", markdown.len());
    assert!(markdown.contains(figures[0]["uri"].as_str().unwrap()), "the file is linked");

    let transcript = client.result("azureSandbox/output", json!({"uri": uri})).await;
    let text = transcript["text"].as_str().unwrap();
    assert!(text.contains("[figure] PNG 320×240, ") && text.contains(&figure_path), "{text}");
    assert!(text.contains("--- display ---\n   a    b"), "{text}");

    let latest = client
        .result(
            "workspace/executeCommand",
            json!({"command": "azureSandbox.latestFigure", "arguments": [{"uri": uri}]}),
        )
        .await;
    assert_eq!(latest["path"], figure_path.as_str());
    let opened_answer =
        client.result("workspace/executeCommand", json!({"command": "azureSandbox.openFigure", "arguments": []})).await;
    assert_eq!(opened_answer["path"], figure_path.as_str());
    // The opener (a shell script) creates its file before it writes to it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let written = || std::fs::read_to_string(&opened).unwrap_or_default();
    while !written().ends_with('\n') && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(written().trim(), figure_path);
    client.shutdown().await;
}

/// `doctor` says which interpreter the local sandbox runs and whether
/// figures can show there.
#[test]
fn doctor_says_whether_figures_can_show() {
    let cache = tempfile::tempdir().unwrap();
    let python = common::figures_python();
    let output = cli(cache.path(), &["doctor", "--local", "--python", python.to_str().unwrap()]);
    let report = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{report}");
    assert!(report.contains(&format!("python: {}", python.display())), "{report}");
    assert!(report.contains("figures: matplotlib, pandas and Pillow are installed"), "{report}");
    // An interpreter without them: a venv with nothing installed.
    let bare = cache.path().join("bare");
    assert!(Command::new("python3").args(["-m", "venv", "--without-pip"]).arg(&bare).status().unwrap().success());
    let output = cli(cache.path(), &["doctor", "--local", "--python", bare.join("bin/python").to_str().unwrap()]);
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(report.contains("figures: matplotlib, pandas, PIL not installed"), "{report}");
}
