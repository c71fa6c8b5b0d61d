package bot

import (
	"strconv"
	"strings"
)

// Count writes a number with its noun, plural unless the number is 1:
// "1 patch", "2 patches", "3 entries", "0 windows". It is the one plural
// rule for every sentence the bot says.
func Count(n int, noun string) string {
	if n == 1 || n == -1 {
		return strconv.Itoa(n) + " " + noun
	}
	return strconv.Itoa(n) + " " + Plural(noun)
}

// Plural returns the plural of an English noun by the regular rules:
// patch → patches, entry → entries, window → windows. A phrase is made
// plural by its last word ("new commit" → "new commits").
func Plural(noun string) string {
	lower := strings.ToLower(noun)
	switch {
	case strings.HasSuffix(lower, "ch"), strings.HasSuffix(lower, "sh"),
		strings.HasSuffix(lower, "s"), strings.HasSuffix(lower, "x"), strings.HasSuffix(lower, "z"):
		return noun + "es"
	case strings.HasSuffix(lower, "y") && len(lower) > 1 && !strings.ContainsRune("aeiou", rune(lower[len(lower)-2])):
		return noun[:len(noun)-1] + "ies"
	}
	return noun + "s"
}
