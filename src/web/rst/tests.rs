//! Each construct with its exact HTML (before sanitizing); hostile and random input.

use super::to_html;

/// `(reStructuredText, HTML)` pairs.
fn check(cases: &[(&str, &str)]) {
    for (source, expected) in cases {
        assert_eq!(to_html(source), *expected, "source:\n{source}");
    }
}

#[test]
fn section_titles_take_levels_in_order_of_first_appearance() {
    check(&[
        ("Title\n=====\n\ntext\n", "<h3>Title</h3>\n<p>text</p>\n"),
        (
            "=====\nTitle\n=====\n\nSub\n---\n\nSubsub\n~~~~~~\n\nOther\n-----\n",
            "<h3>Title</h3>\n<h4>Sub</h4>\n<h5>Subsub</h5>\n<h4>Other</h4>\n",
        ),
        // An inset title; an underline longer than the title.
        ("------\n Inset\n------\n", "<h3>Inset</h3>\n"),
        ("A\n=====\n", "<h3>A</h3>\n"),
        // Too short an underline (under four characters) is text.
        ("Long title\n==\n", "<p>Long title\n==</p>\n"),
        // Deep levels stop at h6.
        (
            "A\n=\n\nB\n-\n\nC\n~\n\nD\n^\n\nE\n\"\n",
            "<h3>A</h3>\n<h4>B</h4>\n<h5>C</h5>\n<h6>D</h6>\n<h6>E</h6>\n",
        ),
        (
            "Title *with* ``code``\n=====================\n",
            "<h3>Title <em>with</em> <code>code</code></h3>\n",
        ),
    ]);
}

#[test]
fn paragraphs_transitions_and_line_blocks() {
    check(&[
        ("one\ntwo\n\nthree", "<p>one\ntwo</p>\n<p>three</p>\n"),
        ("a\n\n----------\n\nb\n", "<p>a</p>\n<hr>\n<p>b</p>\n"),
        (
            "| line one\n| line *two*\n|   indented\n",
            "<p>line one<br>\nline <em>two</em><br>\nindented</p>\n",
        ),
        ("\r\nWindows\r\nlines\r\n", "<p>Windows\nlines</p>\n"),
    ]);
}

#[test]
fn inline_markup() {
    check(&[
        (
            "*em* **strong** ``lit *x*`` `cite`",
            "<p><em>em</em> <strong>strong</strong> <code>lit *x*</code> <cite>cite</cite></p>\n",
        ),
        // Start- and end-strings need the right neighbours.
        (
            "2 * 3 * 4, a*b*c, (*) and *",
            "<p>2 * 3 * 4, a*b*c, (*) and *</p>\n",
        ),
        (
            "*unclosed and ``code``",
            "<p>*unclosed and <code>code</code></p>\n",
        ),
        ("\\*not em\\* and a\\ b", "<p>*not em* and ab</p>\n"),
        (
            "(*em*), \"**strong**\".",
            "<p>(<em>em</em>), &quot;<strong>strong</strong>&quot;.</p>\n",
        ),
        (
            "H\\ :sub:`2`\\ O and E = mc\\ :sup:`2`",
            "<p>H<sub>2</sub>O and E = mc<sup>2</sup></p>\n",
        ),
        (
            ":code:`x = 1` :strong:`s` :emphasis:`e` :literal:`l` `t`:title-reference:",
            "<p><code>x = 1</code> <strong>s</strong> <em>e</em> <code>l</code> <cite>t</cite></p>\n",
        ),
        (
            "Footnote [1]_ and [#]_.",
            "<p>Footnote <sup>[1]</sup> and <sup>[#]</sup>.</p>\n",
        ),
        (
            "<b>tag</b> & 'quote'",
            "<p>&lt;b&gt;tag&lt;/b&gt; &amp; &#39;quote&#39;</p>\n",
        ),
    ]);
}

#[test]
fn unknown_and_sphinx_roles_show_their_text() {
    check(&[
        (
            "See :ref:`install`, :ref:`the guide <guide>`, :doc:`usage`.",
            "<p>See install, the guide, usage.</p>\n",
        ),
        (
            ":func:`requests.get`, :py:class:`~requests.Session`, :meth:`!x.y`, :unknown:`<b>`",
            "<p><code>requests.get</code>, <code>Session</code>, <code>x.y</code>, <code>&lt;b&gt;</code></p>\n",
        ),
        (
            ":pep:`8` and :rfc:`2616`",
            "<p><a href=\"https://peps.python.org/pep-0008/\">PEP 8</a> and <a href=\"https://datatracker.ietf.org/doc/html/rfc2616\">RFC 2616</a></p>\n",
        ),
    ]);
}

#[test]
fn hyperlinks() {
    check(&[
        (
            "See `the docs <https://docs.example.org/>`_ and `the docs`_ again.",
            "<p>See <a href=\"https://docs.example.org/\">the docs</a> and <a href=\"https://docs.example.org/\">the docs</a> again.</p>\n",
        ),
        (
            "A `Home Page`_ and `pypi`_ and pypi_.\n\n.. _home page: https://example.org/home\n.. _PyPI: https://pypi.org/\n",
            "<p>A <a href=\"https://example.org/home\">Home Page</a> and <a href=\"https://pypi.org/\">pypi</a> and <a href=\"https://pypi.org/\">pypi</a>.</p>\n",
        ),
        (
            "`first`__ and `second`__\n\n__ https://one.example\n\n.. __: https://two.example\n",
            "<p><a href=\"https://one.example\">first</a> and <a href=\"https://two.example\">second</a></p>\n",
        ),
        // An alias, and a target whose URI is on the next line.
        (
            "`docs`_ and `alias <docs_>`_\n\n.. _docs:\n   https://example.org/\n   very/long\n",
            "<p><a href=\"https://example.org/very/long\">docs</a> and <a href=\"https://example.org/very/long\">alias</a></p>\n",
        ),
        (
            "Mail `me <me@example.org>`_.",
            "<p>Mail <a href=\"mailto:me@example.org\">me</a>.</p>\n",
        ),
        (
            "`<https://only.example/uri>`_",
            "<p><a href=\"https://only.example/uri\">https://only.example/uri</a></p>\n",
        ),
        (
            "Go to https://example.org/path?q=1&x=2. Or (https://example.org/a_(b)) or mail me@example.com.",
            "<p>Go to <a href=\"https://example.org/path?q=1&amp;x=2\">https://example.org/path?q=1&amp;x=2</a>. Or (<a href=\"https://example.org/a_(b)\">https://example.org/a_(b)</a>) or mail <a href=\"mailto:me@example.com\">me@example.com</a>.</p>\n",
        ),
        // References to nothing, to a section, or to a relative URI are text.
        (
            "Usage\n=====\n\n`Usage`_, missing_, `rel <docs/index.html>`_",
            "<h3>Usage</h3>\n<p>Usage, missing, rel</p>\n",
        ),
    ]);
}

#[test]
fn literal_and_doctest_blocks() {
    check(&[
        (
            "Install it::\n\n    pip install demo\n      --upgrade\n\nDone.",
            "<p>Install it:</p>\n<pre><code>pip install demo\n  --upgrade\n</code></pre>\n<p>Done.</p>\n",
        ),
        (
            "Expanded ::\n\n  <tag> & *x*\n",
            "<p>Expanded</p>\n<pre><code>&lt;tag&gt; &amp; *x*\n</code></pre>\n",
        ),
        (
            "::\n\n    only code\n\n    more\n",
            "<pre><code>only code\n\nmore\n</code></pre>\n",
        ),
        (
            "Quoted::\n\n> one\n> two\n\nafter",
            "<p>Quoted:</p>\n<pre><code>&gt; one\n&gt; two\n</code></pre>\n<p>after</p>\n",
        ),
        (
            ">>> 1 + 1\n2\n\ntext",
            "<pre><code>&gt;&gt;&gt; 1 + 1\n2\n</code></pre>\n<p>text</p>\n",
        ),
        (
            "Tabs::\n\n\tindented\n\t\tmore\n",
            "<p>Tabs:</p>\n<pre><code>indented\n        more\n</code></pre>\n",
        ),
    ]);
}

#[test]
fn code_directives() {
    check(&[
        (
            ".. code-block:: python\n\n    def f():\n        return '<x>'\n",
            "<pre><code>def f():\n    return &#39;&lt;x&gt;&#39;\n</code></pre>\n",
        ),
        (
            ".. code:: bash\n   :linenos:\n\n   ls\n",
            "<pre><code>ls\n</code></pre>\n",
        ),
        (
            ".. sourcecode::\n\n   x = 1\n",
            "<pre><code>x = 1\n</code></pre>\n",
        ),
        (
            ".. code-block:: python\n   x = 1\n",
            "<pre><code>x = 1\n</code></pre>\n",
        ),
        (
            ".. parsed-literal::\n\n   pip install *demo*\n",
            "<pre><code>pip install <em>demo</em>\n</code></pre>\n",
        ),
    ]);
}

#[test]
fn lists() {
    check(&[
        (
            "- one\n- two\n",
            "<ul>\n<li>one</li>\n<li>two</li>\n</ul>\n",
        ),
        (
            "* item\n  continued\n\n  - nested\n  - nested *too*\n\n* last\n",
            "<ul>\n<li>item\ncontinued\n<ul>\n<li>nested</li>\n<li>nested <em>too</em></li>\n</ul>\n</li>\n<li>last</li>\n</ul>\n",
        ),
        (
            "- para one\n\n  para two\n- other\n",
            "<ul>\n<li><p>para one</p>\n<p>para two</p>\n</li>\n<li><p>other</p>\n</li>\n</ul>\n",
        ),
        (
            "- a\n\n+ b\n",
            "<ul>\n<li>a</li>\n</ul>\n<ul>\n<li>b</li>\n</ul>\n",
        ),
        (
            "1. one\n2. two\n",
            "<ol>\n<li>one</li>\n<li>two</li>\n</ol>\n",
        ),
        (
            "3) three\n#) four\n",
            "<ol start=\"3\">\n<li>three</li>\n<li>four</li>\n</ol>\n",
        ),
        (
            "#. auto\n#. auto\n",
            "<ol>\n<li>auto</li>\n<li>auto</li>\n</ol>\n",
        ),
        (
            "(a) alpha\n(b) beta\n",
            "<ol type=\"a\">\n<li>alpha</li>\n<li>beta</li>\n</ol>\n",
        ),
        (
            "i. one\nii. two\niii. three\n",
            "<ol type=\"i\">\n<li>one</li>\n<li>two</li>\n<li>three</li>\n</ol>\n",
        ),
        (
            "C. gamma\nD. delta\n",
            "<ol start=\"3\" type=\"A\">\n<li>gamma</li>\n<li>delta</li>\n</ol>\n",
        ),
        // Not lists: text running on unindented, a number without a space.
        (
            "2000. A good year\nfor wine.\n",
            "<p>2000. A good year\nfor wine.</p>\n",
        ),
        ("1.5 million\n", "<p>1.5 million</p>\n"),
        ("-not a bullet\n", "<p>-not a bullet</p>\n"),
        (
            "1. first\n\n   - inner\n",
            "<ol>\n<li>first\n<ul>\n<li>inner</li>\n</ul>\n</li>\n</ol>\n",
        ),
        // An item's text sets its indentation: more is a definition, less ends the item.
        (
            "- `a <https://x/>`_\n   - nested\n",
            "<ul>\n<li><dl>\n<dt><a href=\"https://x/\">a</a></dt>\n<dd><ul>\n<li>nested</li>\n</ul>\n</dd>\n</dl>\n</li>\n</ul>\n",
        ),
        (
            "- item\n continued\n",
            "<ul>\n<li>item</li>\n</ul>\n<blockquote>\n<p>continued</p>\n</blockquote>\n",
        ),
        ("-\n   text below\n", "<ul>\n<li>text below</li>\n</ul>\n"),
    ]);
}

#[test]
fn definition_and_field_lists_and_quotes() {
    check(&[
        (
            "term\n    Its definition.\nother *term*\n    Another.\n\n    Second paragraph.\n",
            "<dl>\n<dt>term</dt>\n<dd>Its definition.</dd>\n<dt>other <em>term</em></dt>\n<dd><p>Another.</p>\n<p>Second paragraph.</p>\n</dd>\n</dl>\n",
        ),
        (
            ":Author: Jane\n:Version: 1.0\n   and more\n",
            "<dl>\n<dt>Author</dt>\n<dd>Jane</dd>\n<dt>Version</dt>\n<dd>1.0\nand more</dd>\n</dl>\n",
        ),
        (
            "Text\n\n    Quoted *text*.\n\n        Deeper.\n",
            "<p>Text</p>\n<blockquote>\n<p>Quoted <em>text</em>.</p>\n<blockquote>\n<p>Deeper.</p>\n</blockquote>\n</blockquote>\n",
        ),
        (
            ".. [1] A footnote.\n",
            "<dl>\n<dt>[1]</dt>\n<dd>A footnote.</dd>\n</dl>\n",
        ),
    ]);
}

#[test]
fn images_figures_and_substitutions() {
    check(&[
        (
            ".. image:: https://img.example/badge.svg\n   :target: https://ci.example/\n   :alt: build\n   :width: 80px\n",
            "<a href=\"https://ci.example/\"><img src=\"https://img.example/badge.svg\" alt=\"build\" width=\"80\"></a>\n",
        ),
        (
            ".. image:: https://img.example/logo.png\n   :align: center\n   :height: 50%\n",
            "<img src=\"https://img.example/logo.png\" alt=\"https://img.example/logo.png\" align=\"center\">\n",
        ),
        (
            ".. figure:: https://img.example/f.png\n   :alt: f\n\n   The *caption*.\n\n   A legend.\n",
            "<figure>\n<img src=\"https://img.example/f.png\" alt=\"f\">\n<figcaption>The <em>caption</em>.</figcaption>\n<p>A legend.</p>\n</figure>\n",
        ),
        (
            "|build| |docs|_ |name| |tm|\n\n.. |build| image:: https://img.example/b.svg\n    :target: https://ci.example/\n.. |docs| image:: https://img.example/d.svg\n.. _docs: https://docs.example/\n.. |name| replace:: *Demo* project\n.. |tm| unicode:: U+2122\n",
            "<p><a href=\"https://ci.example/\"><img src=\"https://img.example/b.svg\" alt=\"https://img.example/b.svg\"></a> <a href=\"https://docs.example/\"><img src=\"https://img.example/d.svg\" alt=\"https://img.example/d.svg\"></a> <em>Demo</em> project ™</p>\n",
        ),
        ("|undefined| stays", "<p>|undefined| stays</p>\n"),
        (
            ".. image:: https://img.example/i.svg\n   :target: `PyPI link`_\n\n.. _PyPI link: https://pypi.org/p/x\n",
            "<a href=\"https://pypi.org/p/x\"><img src=\"https://img.example/i.svg\" alt=\"https://img.example/i.svg\"></a>\n",
        ),
    ]);
}

#[test]
fn admonitions_and_other_directives() {
    check(&[
        (
            ".. note:: Mind the *gap*.\n\n   Second.\n",
            "<div class=\"admonition note\">\n<p class=\"admonition-title\">Note</p>\n<p>Mind the <em>gap</em>.</p>\n<p>Second.</p>\n</div>\n",
        ),
        (
            ".. warning::\n\n   Careful.\n",
            "<div class=\"admonition warning\">\n<p class=\"admonition-title\">Warning</p>\n<p>Careful.</p>\n</div>\n",
        ),
        (
            ".. admonition:: Custom title\n\n   Body.\n",
            "<div class=\"admonition note\">\n<p class=\"admonition-title\">Custom title</p>\n<p>Body.</p>\n</div>\n",
        ),
        (
            ".. versionadded:: 2.0\n   Frobs.\n",
            "<div class=\"admonition note\">\n<p class=\"admonition-title\">Added in version 2.0</p>\n<p>Frobs.</p>\n</div>\n",
        ),
        (
            ".. rubric:: Informal\n",
            "<p><strong>Informal</strong></p>\n",
        ),
        (".. container:: box\n\n   Inside.\n", "<p>Inside.</p>\n"),
        // Unknown directives show their content as written; some render nothing.
        (
            ".. automodule:: demo\n   :members:\n\n   Body <b>\n",
            "<pre><code>Body &lt;b&gt;\n</code></pre>\n",
        ),
        (
            ".. contents:: Table of Contents\n   :depth: 2\n\ntext\n",
            "<p>text</p>\n",
        ),
        (".. toctree::\n\n   usage\n   api\n", ""),
        (".. include:: ../CHANGES.rst\n", ""),
    ]);
}

#[test]
fn comments_are_dropped() {
    check(&[
        (".. a comment\n   on two lines\n\ntext\n", "<p>text</p>\n"),
        ("..\n   an indented\n   comment\n\ntext\n", "<p>text</p>\n"),
        ("..\n\ntext\n", "<p>text</p>\n"),
    ]);
}

#[test]
fn tables() {
    check(&[
        (
            "+-----+-------+\n| a   | b     |\n+=====+=======+\n| 1   | *two* |\n+-----+-------+\n| spans both  |\n+-------------+\n",
            "<table>\n<thead>\n<tr><th>a</th><th>b</th></tr>\n</thead>\n<tbody>\n<tr><td>1</td><td><em>two</em></td></tr>\n<tr><td colspan=\"2\">spans both</td></tr>\n</tbody>\n</table>\n",
        ),
        (
            "+---+---+\n| a | b |\n+   +---+\n|   | c |\n+---+---+\n",
            "<table>\n<tbody>\n<tr><td rowspan=\"2\">a</td><td>b</td></tr>\n<tr><td>c</td></tr>\n</tbody>\n</table>\n",
        ),
        (
            "=====  ======\nName   Value\n=====  ======\nx      1\n       more\ny      2\n=====  ======\n",
            "<table>\n<thead>\n<tr><th>Name</th><th>Value</th></tr>\n</thead>\n<tbody>\n<tr><td>x</td><td>1\nmore</td></tr>\n<tr><td>y</td><td>2</td></tr>\n</tbody>\n</table>\n",
        ),
        (
            ".. list-table:: Caption\n   :header-rows: 1\n\n   * - H1\n     - H2\n   * - a\n     - b\n",
            "<table>\n<caption>Caption</caption>\n<thead>\n<tr><th>H1</th><th>H2</th></tr>\n</thead>\n<tbody>\n<tr><td>a</td><td>b</td></tr>\n</tbody>\n</table>\n",
        ),
        (
            ".. csv-table:: Versions\n   :header: \"Name\", \"Since\"\n\n   \"a, b\", **1.0**\n   \"say \"\"hi\"\"\",2\n",
            "<table>\n<caption>Versions</caption>\n<thead>\n<tr><th>Name</th><th>Since</th></tr>\n</thead>\n<tbody>\n<tr><td>a, b</td><td><strong>1.0</strong></td></tr>\n<tr><td>say &quot;hi&quot;</td><td>2</td></tr>\n</tbody>\n</table>\n",
        ),
        // A broken grid table is shown as written.
        (
            "+---+---+\n| a | b\n+---+---+\n",
            "<pre><code>+---+---+\n| a | b\n+---+---+\n</code></pre>\n",
        ),
    ]);
}

#[test]
fn a_typical_readme() {
    let readme = include_str!("testdata/requests.rst");
    let html = to_html(readme);
    for expected in [
        "<h3>Requests: HTTP for Humans</h3>\n",
        "<a href=\"https://pypi.org/project/requests/\"><img src=\"https://img.shields.io/pypi/v/requests.svg\" alt=\"https://img.shields.io/pypi/v/requests.svg\"></a>\n",
        "<p>Requests is the only <em>Non-GMO</em> HTTP library",
        "<a href=\"https://requests.readthedocs.io\">the docs</a>",
        "<pre><code>&gt;&gt;&gt; import requests\n",
        "<h4>Feature Support</h4>\n",
        "<li>Keep-Alive &amp; Connection Pooling\n<ul>\n<li>nested item</li>\n</ul>\n</li>\n",
        "<p>See install and <code>requests.get</code> for more.</p>",
        "<pre><code>$ python -m pip install requests\n</code></pre>\n",
        "<div class=\"admonition note\">",
        "<pre><code>some content\n</code></pre>",
        "<td>urllib3</td>",
    ] {
        assert!(html.contains(expected), "{expected:?} not in:\n{html}");
    }
    assert!(!html.contains("a comment"), "{html}");
}

#[test]
fn hostile_input_stays_text() {
    check(&[
        (
            ".. raw:: html\n\n   <script>alert(1)</script>\n\nafter\n",
            "<p>after</p>\n",
        ),
        (
            "<script>alert(1)</script>",
            "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>\n",
        ),
        ("`click <javascript:alert(1)>`_", "<p>click</p>\n"),
        ("`x`_\n\n.. _x: JavaScript:alert(1)\n", "<p>x</p>\n"),
        ("`data <data:text/html,x>`_", "<p>data</p>\n"),
        (
            "`data <data:text/html,<script>>`_",
            "<p>data &lt;data:text/html,&lt;script&gt;&gt;</p>\n",
        ),
        (
            ":raw-html:`<b onclick=\"x()\">`",
            "<p><code>&lt;b onclick=&quot;x()&quot;&gt;</code></p>\n",
        ),
        (
            ".. image:: https://x/y.png\n   :alt: \" onerror=\"alert(1)\n",
            "<img src=\"https://x/y.png\" alt=\"&quot; onerror=&quot;alert(1)\">\n",
        ),
        (
            ".. image:: https://x/y.png\n   :target: javascript:alert(1)\n",
            "<img src=\"https://x/y.png\" alt=\"https://x/y.png\">\n",
        ),
        (
            "`a\"b <https://x/\"onmouseover=\"y>`_",
            "<p><a href=\"https://x/&quot;onmouseover=&quot;y\">a&quot;b</a></p>\n",
        ),
    ]);
}

/// Inputs that would take quadratic time (or deep recursion) in a naive renderer, each as
/// large as a README may be.
fn hostile_inputs() -> Vec<String> {
    const SIZE: usize = 512 << 10;
    let repeat = |unit: &str| unit.repeat(SIZE / unit.len());
    vec![
        // Nesting: bullets on one line, indented bullets, ever deeper quotes.
        repeat("- "),
        (0..700).map(|depth| "  ".repeat(depth) + "- x\n").collect(),
        (0..1000).map(|depth| " ".repeat(depth) + "x\n\n").collect(),
        format!(
            "{}\n{}",
            (0..30)
                .map(|depth| "  ".repeat(depth) + "- x\n")
                .collect::<String>(),
            repeat("\n")
        ),
        // Start-strings without end-strings, and near misses.
        repeat("*a "),
        repeat("**a "),
        repeat("`a "),
        repeat("``a "),
        repeat("|a "),
        repeat("[a "),
        repeat(":a: "),
        repeat(":role:`"),
        repeat("_`a "),
        repeat("a-"),
        repeat("a.-"),
        repeat("x@"),
        repeat("http://x/"),
        format!("{}`", repeat("http://x/")),
        format!("http://x{}", repeat(")")),
        repeat("\\"),
        repeat("a_ "),
        // Blocks: simple table borders without an end, grid tables, explicit markup.
        repeat("== ==\n  x\n"),
        repeat("+-+-+\n"),
        format!("+{}\n", "-+".repeat(2000)).repeat(100),
        format!(
            "+{}+\n{}",
            "-".repeat(500),
            format!("|{}|\n", " ".repeat(500)).repeat(500)
        ),
        repeat(".. "),
        repeat(".. _a: b_\n"),
        repeat("1. a\n"),
        repeat(":a: b\n"),
        repeat("a\n  b\n"),
        repeat("|a| b\n\n.. |a| replace:: |a|\n"),
    ]
}

#[test]
fn hostile_input_renders_in_linear_time() {
    for text in hostile_inputs() {
        let started = std::time::Instant::now();
        let html = to_html(&text);
        let elapsed = started.elapsed();
        assert!(
            elapsed < std::time::Duration::from_secs(3),
            "{elapsed:?} for {:?}… ({} bytes of HTML)",
            text.get(..40).unwrap_or(&text),
            html.len()
        );
    }
}

/// A small deterministic generator (xorshift), for garbage made of reStructuredText's
/// pieces.
struct Garbage(u64);

impl Garbage {
    fn next(&mut self) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        usize::try_from(self.0 % 1_000_003).unwrap_or_default()
    }

    fn text(&mut self) -> String {
        const PIECES: [&str; 48] = [
            "*",
            "**",
            "`",
            "``",
            "_",
            "__",
            "|",
            ":",
            "::",
            "..",
            " ",
            "  ",
            "    ",
            "\n",
            "\n\n",
            "\t",
            "-",
            "=",
            "+",
            "#.",
            "1.",
            "(a)",
            "i)",
            "[1]_",
            "<",
            ">",
            "\\",
            "é",
            "😀",
            "http://x.y/",
            "a@b.c",
            "word",
            "name_",
            ".. ",
            "_a: ",
            "image:: ",
            "code-block::",
            "note::",
            "list-table::",
            "+---+",
            "| a |",
            "=== ===",
            ">>>",
            ":field:",
            "|s|",
            ":ref:",
            "replace:: ",
            "\r",
        ];
        let length = self.next() % 120;
        (0..length)
            .map(|_| {
                PIECES
                    .get(self.next() % PIECES.len())
                    .copied()
                    .unwrap_or_default()
            })
            .collect()
    }
}

#[test]
fn garbage_never_panics() {
    let mut garbage = Garbage(0x9e37_79b9_7f4a_7c15);
    for _ in 0..5000 {
        let text = garbage.text();
        let html = std::panic::catch_unwind(|| to_html(&text));
        assert!(html.is_ok(), "panicked on {text:?}");
    }
}
