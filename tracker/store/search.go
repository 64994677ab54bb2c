package store

import (
	"strings"
	"unicode"
)

// Search query limits applied by SearchTerms.
const (
	MaxSearchTerms   = 16 // words beyond this are ignored
	MaxSearchTermLen = 64 // runes; longer words are cut
)

// SearchTerms splits a user's search string into the words a backend
// matches as prefixes: maximal runs of letters, digits and combining marks,
// lower-cased. Everything else (quotes, operators, punctuation, spaces)
// separates words, so a backend that quotes each term can never be fed
// search syntax.
func SearchTerms(q string) []string {
	var terms []string
	for _, f := range SearchWords(q) {
		if len(terms) == MaxSearchTerms {
			break
		}
		r := []rune(f)
		if len(r) > MaxSearchTermLen {
			r = r[:MaxSearchTermLen]
		}
		terms = append(terms, string(r))
	}
	return terms
}

// SearchWords splits indexed text (a title, artist or album) into the same
// lower-cased words as SearchTerms, without its limits. A backend whose own
// tokenizer differs indexes these words, so that index and query split
// text alike.
func SearchWords(s string) []string {
	isWord := func(r rune) bool {
		return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsNumber(r) || unicode.IsMark(r)
	}
	fields := strings.FieldsFunc(s, func(r rune) bool { return !isWord(r) })
	for i, f := range fields {
		fields[i] = strings.ToLower(f)
	}
	return fields
}
