"""Reading what `hadpo eval ...` and `hadpo train` wrote, for `hadpo compare` and `hadpo report`."""
