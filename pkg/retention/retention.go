// Package retention plans which managed images to keep and which to delete. Planning is a
// pure function of (images, policy, now): no I/O, no clock.
package retention
