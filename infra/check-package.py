"""Checks what `sam build` produced (make package): each function of template.yaml has a
built `bootstrap` for the template's runtime; it asks for no glibc version newer than the
provided.al2023 runtime has (the versions it needs are the GLIBC_2.x names of its dynamic
section); zipped as a deploy zips it, it stays within the size budget (docs/BENCHMARKS.md).

Usage: python3 infra/check-package.py <build dir> <template>
"""

import io
import os
import re
import sys
import zipfile

# provided.al2023 ships glibc 2.34.
RUNTIME_GLIBC = (2, 34)
# docs/BENCHMARKS.md: "zip <= 3 MB".
ZIP_BUDGET = 3 * 1024 * 1024


def functions(template_path):
    """The logical ids of the template's AWS::Serverless::Function resources."""
    names, current = [], None
    with open(template_path) as template:
        for line in template:
            match = re.match(r"^  ([A-Za-z0-9]+):\s*$", line)
            if match:
                current = match.group(1)
            elif current and line.strip() == "Type: AWS::Serverless::Function":
                names.append(current)
    return names


def glibc_versions(binary):
    found = set()
    for major, minor in re.findall(rb"GLIBC_(\d+)\.(\d+)", binary):
        found.add((int(major), int(minor)))
    return found


def zipped_size(binary):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        info = zipfile.ZipInfo("bootstrap")
        info.external_attr = 0o755 << 16
        archive.writestr(info, binary, zipfile.ZIP_DEFLATED)
    return len(buffer.getvalue())


def main(build_dir, template_path):
    failures = []
    print("| function | bootstrap (MB) | zip (MB) | newest glibc needed |")
    print("|---|---|---|---|")
    for name in functions(template_path):
        path = os.path.join(build_dir, name, "bootstrap")
        if not os.path.isfile(path):
            failures.append(f"{name}: no bootstrap at {path}")
            continue
        with open(path, "rb") as built:
            binary = built.read()
        if not os.access(path, os.X_OK):
            failures.append(f"{name}: bootstrap is not executable")
        newest = max(glibc_versions(binary), default=(0, 0))
        size = zipped_size(binary)
        print(f"| {name} | {len(binary) / 1048576:.2f} | {size / 1048576:.2f} | GLIBC_{newest[0]}.{newest[1]} |")
        if newest > RUNTIME_GLIBC:
            failures.append(f"{name}: needs GLIBC_{newest[0]}.{newest[1]}, the runtime has {RUNTIME_GLIBC[0]}.{RUNTIME_GLIBC[1]}")
        if size > ZIP_BUDGET:
            failures.append(f"{name}: zip of {size} bytes is over the {ZIP_BUDGET}-byte budget")
    if not functions(template_path):
        failures.append("no functions found in the template")
    for failure in failures:
        print(f"FAIL {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
