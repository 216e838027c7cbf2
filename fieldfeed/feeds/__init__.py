"""Planning and writing the feeds: the RSS, Atom and JSON Feed bytes (:mod:`.build`) and the
atomic writes of every output file (:mod:`.outputs`)."""
