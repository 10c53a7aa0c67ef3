//! The boilerplate comparison in `cim-events/docs/compared-to-cqrs-es.md`: the page's
//! cqrs-es listing is the peer bench's compiled `quickstart.rs`, the line counts in its
//! table are the listings' own, and cim-events needs at most 0.8× the lines of cqrs-es.

use std::path::Path;

fn read(path: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// The body of the first fenced block that opens with `fence` after `heading`.
fn listing<'a>(page: &'a str, heading: &str, fence: &str) -> &'a str {
    let section = &page[page.find(heading).expect("the heading")..];
    let start = section.find(fence).expect("the fence") + fence.len() + 1;
    let end = section[start..].find("\n```").expect("the closing fence");
    &section[start..=start + end]
}

/// Non-blank, non-comment lines; doctest-hidden lines (`# …`) are not the reader's.
fn count(code: &str) -> usize {
    code.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("//") && !l.starts_with("# "))
        .count()
}

#[test]
fn the_guide_shows_the_compiled_listings_and_their_true_counts() {
    let page = read("cim-events/docs/compared-to-cqrs-es.md");
    let ours = listing(&page, "## cim-events\n", "```rust");
    let theirs = listing(&page, "## cqrs-es 0.5\n", "```rust,ignore");

    let peer = read("tests/peer-bench/src/quickstart.rs");
    let from =
        peer.find("// listing: start\n").expect("start marker") + "// listing: start\n".len();
    let to = peer.find("// listing: end").expect("end marker");
    assert_eq!(
        theirs,
        &peer[from..to],
        "the page shows tests/peer-bench/src/quickstart.rs"
    );

    let (ours, theirs) = (count(ours), count(theirs));
    println!(
        "cim-events {ours} lines, cqrs-es {theirs} lines, ratio {:.2}",
        ours as f64 / theirs as f64
    );
    assert!(
        page.contains(&format!("| cim-events | {ours} |")),
        "the table's cim-events count"
    );
    assert!(
        page.contains(&format!("| cqrs-es 0.5 | {theirs} |")),
        "the table's cqrs-es count"
    );
    assert!(
        ours * 10 <= theirs * 8,
        "cim-events {ours} lines > 0.8 × cqrs-es {theirs}"
    );
}
