//! A state machine drawn as SVG, laid out here in Rust so the console needs no layout
//! library: each branch is drawn in layers (a state's layer is its distance from
//! StartAt), Parallel branches side by side inside their state's frame and a Map's
//! ItemProcessor inside its own. Edges go down between layers; edges back up (loops)
//! and within a layer run down the right-hand side. Choice rules and Catch edges carry
//! labels.
//!
//! Every state is a `<g class="state ..." data-state="NAME">` whose first child is its
//! `frame`, so the console colours a state by class without touching the layout. Every
//! name, rule and error that reaches the SVG goes through [`escape`].

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;

use crate::asl::definition::{Branch, State, StateKind, StateMachine};
use crate::asl::transitions::{edges, ends_branch};

const NODE_HEIGHT: f64 = 46.0;
const MIN_NODE_WIDTH: f64 = 150.0;
const MAX_NODE_WIDTH: f64 = 260.0;
const CHAR_WIDTH: f64 = 7.4;
const COLUMN_GAP: f64 = 36.0;
const LAYER_GAP: f64 = 58.0;
const GROUP_PAD: f64 = 18.0;
const GROUP_HEADER: f64 = 30.0;
const MARKER: f64 = 22.0;
const LANE_GAP: f64 = 22.0;
const MAX_LABEL_CHARS: usize = 34;

/// The SVG document for a whole state machine.
pub fn render(machine: &StateMachine) -> String {
    let laid = lay_out_branch(&machine.root, true);
    let margin = 16.0;
    let width = laid.width + 2.0 * margin;
    let height = laid.height + 2.0 * margin;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="graph" viewBox="0 0 {width:.0} {height:.0}" width="{width:.0}" height="{height:.0}" role="img"><defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" class="arrowhead"/></marker></defs><g transform="translate({margin},{margin})">{}</g></svg>"#,
        laid.svg
    );
    svg
}

/// Escapes text for SVG/HTML text and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A laid-out piece: its size and its SVG in its own coordinates (origin top left).
struct Laid {
    width: f64,
    height: f64,
    svg: String,
}

/// Where a placed state sits within its branch.
#[derive(Clone, Copy)]
struct Placed {
    x: f64,
    y: f64,
    width: f64,
    height: f64,
    layer: usize,
}

impl Placed {
    fn top(&self) -> (f64, f64) {
        (self.x + self.width / 2.0, self.y)
    }
    fn bottom(&self) -> (f64, f64) {
        (self.x + self.width / 2.0, self.y + self.height)
    }
    fn right(&self) -> (f64, f64) {
        (self.x + self.width, self.y + self.height / 2.0)
    }
}

/// Layers by breadth-first distance from StartAt; states no path reaches come last, in
/// definition order.
fn layers(branch: &Branch) -> Vec<Vec<&str>> {
    let mut layer_of: HashMap<&str, usize> = HashMap::new();
    let mut order: Vec<&str> = Vec::new();
    let mut queue = VecDeque::new();
    layer_of.insert(branch.start_at.as_str(), 0);
    queue.push_back(branch.start_at.as_str());
    while let Some(name) = queue.pop_front() {
        order.push(name);
        let layer = layer_of[name];
        let Some(state) = branch.state(name) else {
            continue;
        };
        for edge in edges(state) {
            if !layer_of.contains_key(edge.to) && branch.states.contains_key(edge.to) {
                layer_of.insert(edge.to, layer + 1);
                queue.push_back(edge.to);
            }
        }
    }
    let mut deepest = order.iter().map(|n| layer_of[n]).max().unwrap_or(0);
    for name in branch.states.keys() {
        if !layer_of.contains_key(name.as_str()) {
            deepest += 1;
            layer_of.insert(name, deepest);
            order.push(name);
        }
    }
    let mut out: Vec<Vec<&str>> = vec![Vec::new(); deepest + 1];
    for name in order {
        out[layer_of[name]].push(name);
    }
    out
}

fn lay_out_branch(branch: &Branch, root: bool) -> Laid {
    let layers = layers(branch);
    let mut drawn: HashMap<&str, Laid> = HashMap::new();
    for name in layers.iter().flatten() {
        if let Some(state) = branch.state(name) {
            drawn.insert(name, lay_out_state(state));
        }
    }
    // Rows below a start marker, with an end marker under the last.
    let top = MARKER + LAYER_GAP * 0.6;
    let mut placed: HashMap<&str, Placed> = HashMap::new();
    let mut y = top;
    let mut widest: f64 = 2.0 * MARKER;
    let mut rows = Vec::new();
    for (layer, names) in layers.iter().enumerate() {
        let width: f64 = names.iter().map(|n| drawn[n].width).sum::<f64>()
            + COLUMN_GAP * names.len().saturating_sub(1) as f64;
        let height = names.iter().map(|n| drawn[n].height).fold(0.0, f64::max);
        widest = widest.max(width);
        rows.push((layer, names, width, y));
        y += height + LAYER_GAP;
    }
    // Room on the right for edges that run back up or sideways.
    let layer_of: HashMap<&str, usize> = layers
        .iter()
        .enumerate()
        .flat_map(|(layer, names)| names.iter().map(move |n| (*n, layer)))
        .collect();
    let side_lanes = branch
        .states
        .values()
        .map(|s| {
            let from = layer_of.get(s.name.as_str()).copied();
            edges(s)
                .iter()
                .filter(|e| layer_of.get(e.to).copied() <= from)
                .count()
        })
        .sum::<usize>();
    let content_width = widest;
    let width =
        content_width + side_lanes as f64 * LANE_GAP + if side_lanes > 0 { 24.0 } else { 0.0 };
    for (layer, names, row_width, row_y) in &rows {
        let mut x = (content_width - row_width) / 2.0;
        for name in names.iter() {
            let laid = &drawn[name];
            placed.insert(
                name,
                Placed {
                    x,
                    y: *row_y,
                    width: laid.width,
                    height: laid.height,
                    layer: *layer,
                },
            );
            x += laid.width + COLUMN_GAP;
        }
    }
    let end_y = y - LAYER_GAP * 0.4;
    let height = end_y + MARKER;
    let centre = content_width / 2.0;

    let mut svg = String::new();
    let mut labels = String::new();
    // Start and end markers.
    let (start_text, end_text) = if root { ("Start", "End") } else { ("", "") };
    marker(&mut svg, centre, 0.0, start_text, "start");
    marker(&mut svg, centre, end_y, end_text, "end");
    let start = placed[branch.start_at.as_str()];
    line(&mut svg, (centre, MARKER), start.top(), "edge");

    let mut lane = 0usize;
    for name in layers.iter().flatten() {
        let Some(state) = branch.state(name) else {
            continue;
        };
        let from = placed[name];
        for edge in edges(state) {
            let Some(to) = placed.get(edge.to) else {
                continue;
            };
            let class = if edge.catch { "edge catch" } else { "edge" };
            let label_at = if to.layer > from.layer {
                let a = from.bottom();
                let b = to.top();
                curve(&mut svg, a, b, class);
                // Near the target, where edges fanning out of one state have parted.
                (a.0 + (b.0 - a.0) * 0.8, a.1 + (b.1 - a.1) * 0.62)
            } else {
                // Back up (a loop) or within a layer: out to a lane on the right.
                let lane_x = content_width + 24.0 + lane as f64 * LANE_GAP;
                lane += 1;
                let a = from.right();
                let b = to.right();
                let _ = write!(
                    svg,
                    r#"<path class="{class}" d="M {:.1} {:.1} L {lane_x:.1} {:.1} L {lane_x:.1} {:.1} L {:.1} {:.1}" marker-end="url(#arrow)"/>"#,
                    a.0,
                    a.1,
                    a.1,
                    b.1,
                    b.0 + 2.0,
                    b.1
                );
                (lane_x, (a.1 + b.1) / 2.0)
            };
            if let Some(label) = &edge.label {
                edge_label(&mut labels, label_at, label, edge.catch);
            }
        }
        if ends_branch(state) {
            let a = from.bottom();
            curve(&mut svg, a, (centre, end_y), "edge");
        }
    }
    for name in layers.iter().flatten() {
        let at = placed[name];
        let _ = write!(
            svg,
            r#"<g transform="translate({:.1},{:.1})">{}</g>"#,
            at.x, at.y, drawn[name].svg
        );
    }
    svg.push_str(&labels);
    Laid { width, height, svg }
}

/// One state: a box, or a frame around its branches.
fn lay_out_state(state: &State) -> Laid {
    let type_name = state.kind.type_name();
    let class = format!("state state-{}", type_name.to_ascii_lowercase());
    let name = escape(&state.name);
    let title = format!("<title>{name} ({type_name})</title>");
    match &state.kind {
        StateKind::Parallel(parallel) => {
            let lanes: Vec<Laid> = parallel
                .branches
                .iter()
                .map(|b| lay_out_branch(b, false))
                .collect();
            group(&class, state, &title, lanes)
        }
        StateKind::Map(map) => group(
            &class,
            state,
            &title,
            vec![lay_out_branch(&map.processor, false)],
        ),
        _ => {
            let shown = shorten(&state.name, ((MAX_NODE_WIDTH - 24.0) / CHAR_WIDTH) as usize);
            let width = (shown.chars().count() as f64 * CHAR_WIDTH + 32.0)
                .clamp(MIN_NODE_WIDTH, MAX_NODE_WIDTH);
            let h = NODE_HEIGHT;
            let frame = match &state.kind {
                StateKind::Choice(_) => format!(
                    r#"<polygon class="frame" points="12,0 {:.1},0 {width:.1},{:.1} {:.1},{h:.1} 12,{h:.1} 0,{:.1}"/>"#,
                    width - 12.0,
                    h / 2.0,
                    width - 12.0,
                    h / 2.0
                ),
                StateKind::Succeed(_) | StateKind::Fail(_) => format!(
                    r#"<rect class="frame" width="{width:.1}" height="{h:.1}" rx="{:.1}"/>"#,
                    h / 2.0
                ),
                StateKind::Pass(_) => {
                    format!(r#"<rect class="frame" width="{width:.1}" height="{h:.1}"/>"#)
                }
                _ => format!(r#"<rect class="frame" width="{width:.1}" height="{h:.1}" rx="6"/>"#),
            };
            // A small mark per type in the top left, so shapes differ without colour
            // (colour is the status).
            let glyph = match &state.kind {
                StateKind::Task(_) => {
                    r#"<path class="glyph" d="M 9 9 h 9 v 9 h -9 z M 11 12 h 5 M 11 15 h 5"/>"#
                }
                StateKind::Wait(_) => {
                    r#"<circle class="glyph" cx="14" cy="14" r="5.5"/><path class="glyph" d="M 14 10.5 V 14 H 17"/>"#
                }
                StateKind::Pass(_) => {
                    r#"<path class="glyph" d="M 8 14 H 19 M 15 10 L 19 14 L 15 18"/>"#
                }
                StateKind::Choice(_) => {
                    r#"<path class="glyph" d="M 18 9 L 23 14 L 18 19 L 13 14 z"/>"#
                }
                StateKind::Succeed(_) => r#"<path class="glyph" d="M 14 14 L 17 17 L 23 10"/>"#,
                StateKind::Fail(_) => {
                    r#"<path class="glyph" d="M 14 10 L 21 17 M 21 10 L 14 17"/>"#
                }
                StateKind::Parallel(_) | StateKind::Map(_) => "",
            };
            let mut svg = String::new();
            let _ = write!(
                svg,
                r#"<g class="{class}" data-state="{name}" tabindex="0">{frame}{glyph}{title}<text class="kind" x="{:.1}" y="15">{}</text><text class="name" x="{:.1}" y="34">{}</text></g>"#,
                width / 2.0,
                type_name.to_ascii_uppercase(),
                width / 2.0,
                escape(&shown)
            );
            Laid {
                width,
                height: h,
                svg,
            }
        }
    }
}

/// A Parallel or Map frame holding its branches side by side.
fn group(class: &str, state: &State, title: &str, lanes: Vec<Laid>) -> Laid {
    let inner_width: f64 = lanes.iter().map(|l| l.width).sum::<f64>()
        + COLUMN_GAP * lanes.len().saturating_sub(1) as f64;
    let inner_height = lanes.iter().map(|l| l.height).fold(0.0, f64::max);
    let width = (inner_width + 2.0 * GROUP_PAD).max(MIN_NODE_WIDTH);
    let height = inner_height + GROUP_HEADER + 2.0 * GROUP_PAD;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<g class="{class}" data-state="{}" tabindex="0"><rect class="frame" width="{width:.1}" height="{height:.1}" rx="10"/>{title}<text class="group-title" x="12" y="20">{} · {}</text></g>"#,
        escape(&state.name),
        state.kind.type_name().to_ascii_uppercase(),
        escape(&shorten(&state.name, (width / CHAR_WIDTH) as usize))
    );
    let mut x = (width - inner_width) / 2.0;
    for lane in &lanes {
        let _ = write!(
            svg,
            r#"<g class="lane" transform="translate({x:.1},{:.1})"><rect class="lane-frame" x="-6" y="-6" width="{:.1}" height="{:.1}" rx="6"/>{}</g>"#,
            GROUP_HEADER + GROUP_PAD,
            lane.width + 12.0,
            lane.height + 12.0,
            lane.svg
        );
        x += lane.width + COLUMN_GAP;
    }
    Laid { width, height, svg }
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

fn marker(svg: &mut String, x: f64, y: f64, text: &str, class: &str) {
    if text.is_empty() {
        let _ = write!(
            svg,
            r#"<circle class="marker {class}" cx="{x:.1}" cy="{:.1}" r="6"/>"#,
            y + MARKER / 2.0
        );
    } else {
        let _ = write!(
            svg,
            r#"<g class="marker {class}"><rect x="{:.1}" y="{y:.1}" width="60" height="{MARKER}" rx="11"/><text x="{x:.1}" y="{:.1}">{text}</text></g>"#,
            x - 30.0,
            y + 15.0
        );
    }
}

fn line(svg: &mut String, a: (f64, f64), b: (f64, f64), class: &str) {
    let _ = write!(
        svg,
        r#"<path class="{class}" d="M {:.1} {:.1} L {:.1} {:.1}" marker-end="url(#arrow)"/>"#,
        a.0, a.1, b.0, b.1
    );
}

fn curve(svg: &mut String, a: (f64, f64), b: (f64, f64), class: &str) {
    let bend = (b.1 - a.1) / 2.0;
    let _ = write!(
        svg,
        r#"<path class="{class}" d="M {:.1} {:.1} C {:.1} {:.1}, {:.1} {:.1}, {:.1} {:.1}" marker-end="url(#arrow)"/>"#,
        a.0,
        a.1,
        a.0,
        a.1 + bend,
        b.0,
        b.1 - bend,
        b.0,
        b.1
    );
}

fn edge_label(svg: &mut String, at: (f64, f64), label: &str, catch: bool) {
    let shown = shorten(label, MAX_LABEL_CHARS);
    let width = shown.chars().count() as f64 * 6.2 + 12.0;
    let class = if catch {
        "edge-label catch"
    } else {
        "edge-label"
    };
    let _ = write!(
        svg,
        r#"<g class="{class}"><title>{}</title><rect x="{:.1}" y="{:.1}" width="{width:.1}" height="18" rx="4"/><text x="{:.1}" y="{:.1}">{}</text></g>"#,
        escape(label),
        at.0 - width / 2.0,
        at.1 - 9.0,
        at.0,
        at.1 + 4.0,
        escape(&shown)
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asl::validate::parse;
    use serde_json::json;

    fn draw(definition: &serde_json::Value) -> String {
        render(&parse(&definition.to_string()).unwrap().machine)
    }

    fn seed(name: &str) -> serde_json::Value {
        crate::examples::json(name)
    }

    /// Every `<tag ...>` closed in order, attribute values quoted: what an XML parser needs.
    fn assert_balanced(svg: &str) {
        let mut open: Vec<&str> = Vec::new();
        let mut rest = svg;
        while let Some(at) = rest.find('<') {
            rest = &rest[at + 1..];
            let end = rest.find('>').expect("every tag ends");
            let tag = &rest[..end];
            assert_eq!(tag.matches('"').count() % 2, 0, "quotes in <{tag}>");
            assert!(!tag[1..].contains('<'), "a raw '<' inside <{tag}>");
            if let Some(name) = tag.strip_prefix('/') {
                assert_eq!(open.pop(), Some(name), "closing </{name}>");
            } else if !tag.ends_with('/') {
                open.push(tag.split_whitespace().next().unwrap());
            }
            rest = &rest[end + 1..];
        }
        assert!(open.is_empty(), "unclosed: {open:?}");
    }

    fn states_drawn(svg: &str) -> Vec<String> {
        svg.split("data-state=\"")
            .skip(1)
            .map(|s| s[..s.find('"').unwrap()].to_string())
            .collect()
    }

    #[test]
    fn the_choice_seed_draws_each_state_once_with_its_rules_labelled() {
        let svg = draw(&seed("choice-state.asl.json"));
        assert_balanced(&svg);
        assert_eq!(
            states_drawn(&svg),
            [
                "Deciding Lambda Function",
                "ChoiceState",
                "Correct",
                "Error"
            ]
        );
        assert!(svg.contains(r#"class="state state-choice""#));
        assert!(svg.contains(r#"class="state state-wait""#));
        assert!(svg.contains(">$.statusCode == 200<"));
        assert!(svg.contains(">$.statusCode == 500<"));
        assert_eq!(
            svg.matches("marker-end").count(),
            6,
            "start, task→choice, two rules, two ends"
        );
    }

    #[test]
    fn parallel_branches_nest_inside_their_state_and_catch_edges_are_labelled() {
        let mut definition = seed("test-pipeline.asl.json");
        definition["States"]["Parallel"]["Catch"] =
            json!([{"ErrorEquals": ["States.ALL"], "Next": "Report"}]);
        definition["States"]["Report"] = json!({"Type": "Fail", "Error": "Tests.Failed"});
        let svg = draw(&definition);
        assert_balanced(&svg);
        let parallel = svg.find(r#"data-state="Parallel""#).unwrap();
        let end_of_tests = svg.find(r#"data-state="End of tests""#).unwrap();
        for inner in [
            "Unittest accept",
            "Unittest update_db",
            "Wait 4 min",
            "Get statistics",
        ] {
            let at = svg.find(&format!(r#"data-state="{inner}""#)).unwrap();
            assert!(
                parallel < at && at < end_of_tests,
                "{inner} is drawn inside Parallel"
            );
        }
        assert_eq!(svg.matches(r#"class="lane""#).count(), 3);
        assert!(svg.contains(r#"class="edge catch""#));
        assert!(svg.contains(">Catch States.ALL<"));
    }

    #[test]
    fn map_bodies_nest_and_loops_run_down_the_side() {
        let definition = json!({"StartAt": "Poll", "States": {
            "Poll": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": "poll"}, "Next": "Ready?"},
            "Ready?": {"Type": "Choice",
                "Choices": [{"Variable": "$.ready", "BooleanEquals": true, "Next": "Each"}],
                "Default": "Poll"},
            "Each": {"Type": "Map", "ItemsPath": "$.items", "ItemProcessor": {"StartAt": "Do",
                "States": {"Do": {"Type": "Pass", "End": true}}}, "End": true}
        }});
        let svg = draw(&definition);
        assert_balanced(&svg);
        assert!(
            svg.find(r#"data-state="Each""#).unwrap() < svg.find(r#"data-state="Do""#).unwrap()
        );
        assert!(svg.contains(">Default<"));
        assert!(
            svg.contains(" L "),
            "the loop back to Poll runs down the side"
        );
        assert!(svg.contains(">$.ready == true<"));
    }

    #[test]
    fn names_and_rules_are_escaped() {
        let evil = "<img src=x onerror=alert(1)>";
        let definition = json!({"StartAt": evil, "States": {
            evil: {"Type": "Choice",
                "Choices": [{"Variable": "$.a", "StringEquals": "</text><script>", "Next": "B\"&'"}]},
            "B\"&'": {"Type": "Succeed"}
        }});
        let svg = draw(&definition);
        assert_balanced(&svg);
        assert!(!svg.contains("<img"));
        assert!(!svg.contains("<script"));
        assert!(svg.contains("data-state=\"&lt;img src=x onerror=alert(1)&gt;\""));
        assert!(svg.contains("data-state=\"B&quot;&amp;&#39;\""));
        assert_eq!(escape("a<b>&\"'"), "a&lt;b&gt;&amp;&quot;&#39;");
    }

    #[test]
    fn five_hundred_states_are_laid_out_in_order() {
        let mut states = serde_json::Map::new();
        for i in 0..500 {
            let state = if i < 499 {
                json!({"Type": "Pass", "Next": format!("Step {}", i + 1)})
            } else {
                json!({"Type": "Succeed"})
            };
            states.insert(format!("Step {i}"), state);
        }
        let svg = draw(&json!({"StartAt": "Step 0", "States": states}));
        assert_balanced(&svg);
        let drawn = states_drawn(&svg);
        assert_eq!(drawn.len(), 500);
        assert_eq!(drawn[0], "Step 0");
        assert_eq!(drawn[499], "Step 499");
    }
}
