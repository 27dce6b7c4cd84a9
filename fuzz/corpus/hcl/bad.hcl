vault {
  address = http://x
}
