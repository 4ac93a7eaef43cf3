package httpapi

import "github.com/gofiber/fiber/v2"

// deleteModel answers DELETE /models/{name}: 202 once the deletion is in
// the stream. TODO(issue 12): the api-commands helper implements it.
func (s server) deleteModel(c *fiber.Ctx) error {
	return fiber.NewError(fiber.StatusNotImplemented, "not implemented yet")
}

// resetModel answers POST /models/{name}/reset: 202 once the reset is in
// the stream. TODO(issue 12): the api-commands helper implements it.
func (s server) resetModel(c *fiber.Ctx) error {
	return fiber.NewError(fiber.StatusNotImplemented, "not implemented yet")
}
