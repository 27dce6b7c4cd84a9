# a
// b
/* c */ vault { address = "http://x" } # d
template { source = "t.ctmpl", destination = "o", left_delimiter = "[[", right_delimiter = "]]" }
