package httpapi

import (
	"github.com/gofiber/fiber/v2"

	"github.com/event-driven-bayes/event-driven-bayes/services/api/app/command"
)

// deleteModel answers DELETE /models/{name}: 202 once the deletion is in
// the stream (bayes removes the model when it reads it), 404 if the model
// does not exist, 409 for the default model (it can be reset, not deleted).
func (s server) deleteModel(c *fiber.Ctx) error {
	res, err := s.app.Commands.DeleteModel.Handle(c.UserContext(), command.DeleteModel{Model: c.Params("name")})
	if err != nil {
		return err
	}
	return s.changed(c, res)
}

// resetModel answers POST /models/{name}/reset: 202 once the reset is in
// the stream (bayes sets the counts to zero and keeps the spec when it
// reads it), 404 if the model does not exist; the default model can always
// be reset. A body is not read.
func (s server) resetModel(c *fiber.Ctx) error {
	res, err := s.app.Commands.ResetModel.Handle(c.UserContext(), command.ResetModel{Model: c.Params("name")})
	if err != nil {
		return err
	}
	return s.changed(c, res)
}

// changed is the 202 of a deletion or a reset.
func (s server) changed(c *fiber.Ctx, res command.ModelChanged) error {
	return c.Status(fiber.StatusAccepted).JSON(ModelChangeBody{
		ID: res.ID, Model: res.Model, Action: res.Action, Status: statusAccepted, Stream: s.streamOf(res.Model),
	})
}

// statusAccepted: the event is in the stream, bayes applies it when it
// reads it.
const statusAccepted = "accepted"
