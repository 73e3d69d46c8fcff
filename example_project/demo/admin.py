from django.contrib import admin

from .models import JobRun, Upload


@admin.register(Upload)
class UploadAdmin(admin.ModelAdmin):
    list_display = ("name", "uploaded_at", "words", "lines", "processed_at")


@admin.register(JobRun)
class JobRunAdmin(admin.ModelAdmin):
    list_display = ("id", "kind", "status", "attempts", "result", "error", "created_at")
    list_filter = ("kind", "status")
