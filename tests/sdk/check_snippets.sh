#!/usr/bin/env bash
# Checks that every code block of a guide that follows a marker
#   <!-- snippet: path/to/file#name -->
# is, line for line, the region of that file between "[snippet name]" and
# "[end snippet]" comment lines (markers and common indentation removed). Those files
# are compiled by the test suite, so the guide's code compiles. Also fails when a
# ```cpp or ```cmake block has no marker.
#   tests/sdk/check_snippets.sh GUIDE.md SOURCE_ROOT
set -euo pipefail
guide="$1"
root="$2"
status=0
checked=0
marker=""
in_block=false
lines=()
line_no=0
while IFS= read -r line || [ -n "$line" ]; do
  line_no=$((line_no + 1))
  if $in_block; then
    if [[ "$line" == '```' ]]; then
      in_block=false
      block=$(printf '%s\n' "${lines[@]}")
      if [ -n "$marker" ]; then
        file="$root/${marker%%#*}"
        name="${marker#*#}"
        if [ ! -f "$file" ]; then
          echo "$guide:$line_no: no file ${marker%%#*}" >&2; status=1
        else
          region=$(awk -v name="$name" '
            $0 ~ "\\[snippet " name "\\]" { on = 1; found = 1; next }
            on && $0 ~ "\\[end snippet\\]" { on = 0; next }
            on { print }
            END { if (!found) exit 3 }' "$file") || {
            echo "$guide:$line_no: no snippet '$name' in ${marker%%#*}" >&2; status=1; }
          # Drop the common indentation of the region.
          indent=$(printf '%s\n' "$region" | awk 'NF { match($0, /^ */); if (min == "" || RLENGTH < min) min = RLENGTH } END { print min + 0 }')
          region=$(printf '%s\n' "$region" | sed -E "s/^ {0,$indent}//")
          if [ "$region" != "$block" ]; then
            echo "$guide:$line_no: the snippet differs from $marker:" >&2
            diff <(printf '%s\n' "$region") <(printf '%s\n' "$block") >&2 || true
            status=1
          fi
          checked=$((checked + 1))
        fi
      fi
      marker=""
    else
      lines+=("$line")
    fi
    continue
  fi
  if [[ "$line" =~ ^\<\!--\ snippet:\ ([^ ]+)\ --\>$ ]]; then
    marker="${BASH_REMATCH[1]}"
  elif [[ "$line" =~ ^\`\`\`(cpp|cmake)$ ]]; then
    in_block=true
    lines=()
    if [ -z "$marker" ]; then
      echo "$guide:$line_no: a ${BASH_REMATCH[1]} block without a snippet marker" >&2
      status=1
    fi
  elif [[ "$line" =~ ^\`\`\` ]]; then
    in_block=true
    lines=()
    marker=""
  elif [ -n "$line" ]; then
    marker=""
  fi
done <"$guide"
[ "$checked" -gt 0 ] || { echo "$guide: no snippets found" >&2; status=1; }
[ "$status" = 0 ] && echo "check_snippets: $checked snippets match"
exit "$status"
