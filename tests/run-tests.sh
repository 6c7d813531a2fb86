#!/bin/sh
# Runs the test suites and prints, as the last line, "N passed, M failed".
# usage: run-tests.sh all|checks|unit|integration   (env: VIRTUE_BUILD, JOBS)
# Source checks (tests/check_layers.py) count as one test case each. Unit
# tests run in one process; each integration test case boots its own QEMU,
# so they run as separate processes, JOBS at a time.
set -u
mode=${1:-all}
build=${VIRTUE_BUILD:-build}
jobs=${JOBS:-2}
results=build/test-results
rm -rf "$results"
mkdir -p "$results/checks" "$results/unit" "$results/integration"

count() { # count <result> <xml files...>
    r=$1; shift
    cat "$@" 2>/dev/null | grep -o "<TestCase [^>]*result=\"$r\"" | wc -l
}

if [ "$mode" = all ] || [ "$mode" = checks ]; then
    echo "== source checks =="
    # Each check is a program: exit status 0 passes.
    for check in layers; do
        if python3 "tests/check_$check.py" > "$results/checks/$check.log" 2>&1; then r=passed; else r=failed; fi
        if [ "$r" = passed ]; then tail -n 1 "$results/checks/$check.log"; else cat "$results/checks/$check.log"; fi
        echo "<TestCase name=\"check-$check\" result=\"$r\">" > "$results/checks/$check.xml"
    done
fi

if [ "$mode" = all ] || [ "$mode" = unit ]; then
    echo "== unit tests =="
    build/host/unit-tests --report_level=detailed --report_format=XML \
        --report_sink="$results/unit/report.xml" --log_level=error \
        > "$results/unit/log.txt" 2>&1
    cat "$results/unit/log.txt"
    [ -s "$results/unit/report.xml" ] || echo '<TestCase name="unit-tests-binary" result="failed">' > "$results/unit/report.xml"
fi

if [ "$mode" = all ] || [ "$mode" = integration ]; then
    echo "== integration tests (QEMU, $jobs at a time) =="
    # --list_content prints "suite*" then indented "case*" lines on stderr.
    build/host/integration-tests --list_content 2>&1 | awk '
        /^[^ ]/ { sub(/\*$/, ""); suite = $0; next }
        /^    [^ ]/ { sub(/^ +/, ""); if (sub(/\*$/, "")) print suite "/" $0 }' \
        > "$results/integration/cases.txt"
    export VIRTUE_BUILD="$build"
    xargs -P "$jobs" -I{} sh -c '
        name=$(echo "{}" | tr / .)
        start=$(date +%s)
        VIRTUE_CONSOLE_LOG="'"$results"'/integration/$name.console" \
        build/host/integration-tests --run_test="{}" --report_level=detailed --report_format=XML \
            --report_sink="'"$results"'/integration/$name.xml" --log_level=error \
            > "'"$results"'/integration/$name.log" 2>&1
        if grep -q "result=\"passed\"" "'"$results"'/integration/$name.xml" 2>/dev/null; then
            echo "  pass  {} ($(($(date +%s) - start)) s)"
        else
            echo "  FAIL  {} ($(($(date +%s) - start)) s)"
            [ -s "'"$results"'/integration/$name.xml" ] || echo "<TestCase name=\"{}\" result=\"failed\">" > "'"$results"'/integration/$name.xml"
        fi' < "$results/integration/cases.txt"
    for f in "$results"/integration/*.xml; do
        n=$(basename "$f" .xml)
        if ! grep -q 'result="passed"' "$f"; then
            echo "---- log of failed test $n ----"
            cat "$results/integration/$n.log"
            if [ -s "$results/integration/$n.console" ]; then
                echo "---- last 40 console lines of $n (all: $results/integration/$n.console) ----"
                tail -n 40 "$results/integration/$n.console"
            fi
        fi
    done
fi

all_xml="$results/checks/*.xml $results/unit/*.xml $results/integration/*.xml"
passed=$(count passed $all_xml)
failed=$(count failed $all_xml)
aborted=$(count aborted $all_xml)
skipped=$(count skipped $all_xml)
failed=$((failed + aborted))
if [ "$skipped" -gt 0 ]; then
    echo "$passed passed, $failed failed, $skipped skipped"
else
    echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
