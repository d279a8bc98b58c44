"""JUnit XML for ``evalreport check``: one testcase per gate, a failure element for each failed gate.

Read by GitLab's and Jenkins' test reports and by GitHub test-reporter actions.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from ..errors import printable
from .fmt import interval


def to_junit(report) -> str:
    failures = sum(not g.passed for g in report.gates)
    suite = ET.Element(
        "testsuite",
        name="evalreport",
        tests=str(len(report.gates)),
        failures=str(failures),
        errors="0",
        skipped="0",
    )
    props = ET.SubElement(suite, "properties")
    for name, value in (("input", report.result.source.name), ("rule", report.rule), ("unit", report.result.unit)):
        ET.SubElement(props, "property", name=name, value=str(value))
    for g in report.gates:
        case = ET.SubElement(suite, "testcase", classname="evalreport.check", name=f"{g.gate}: {g.condition}")
        value = g.value if isinstance(g.value, str) or g.value is None else f"{g.value:.4f}"
        if g.score is not None:  # a band gate: the band and the score it was decided on
            value += f" (score {g.score:.4f} {report.result.unit})"
        text = f"value {value}, 95% interval {interval(g.ci95, 4)}" + (f"; {g.detail}" if g.detail else "")
        if not g.passed:
            failure = ET.SubElement(case, "failure", message=f"{g.condition} failed: value {value}", type="GateFailed")
            failure.text = text
        else:
            ET.SubElement(case, "system-out").text = text
    root = ET.Element("testsuites", tests=str(len(report.gates)), failures=str(failures))
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + xml_safe(ET.tostring(root, encoding="unicode")) + "\n"


#: Characters XML 1.0 does not allow anywhere (ElementTree escapes &, < and >, but writes these as they are).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_safe(text: str) -> str:
    """Text that XML parsers accept: a character XML forbids (a control character in a class name,
    a byte that was not UTF-8 in a file name) becomes its escape, written out as ``\\x1b``."""
    return _NOT_XML.sub(lambda m: printable(m.group()), text)
