package bot

// JoinNames joins names as people write them: "a", "a and b", "a, b, and
// c". It is the one list rule for every sentence the bot says.
func JoinNames(names []string) string {
	parts := make([]Text, len(names))
	for i, n := range names {
		parts[i] = T(n)
	}
	return JoinList(parts).String()
}

// JoinList joins rich texts the same way: "a", "a and b", "a, b, and c".
func JoinList(parts []Text) Text {
	var out Text
	for i, p := range parts {
		switch {
		case i == 0:
		case i == len(parts)-1 && len(parts) == 2:
			out = out.Append(T(" and "))
		case i == len(parts)-1:
			out = out.Append(T(", and "))
		default:
			out = out.Append(T(", "))
		}
		out = out.Append(p)
	}
	return out
}
